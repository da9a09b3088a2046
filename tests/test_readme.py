"""The README's settings table is the one `sportsflow settings` prints (regenerate it when settings change)."""

from __future__ import annotations

from pipeline.settings_doc import settings_table
from tests.conftest import ROOT


def test_readme_settings_table_is_current():
    """Every setting is documented, with its current default."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- settings-table:start -->\n")[1].split("<!-- settings-table:end -->")[0]
    assert table.strip() == settings_table().strip(), "README settings table drifted: paste `sportsflow settings`"
