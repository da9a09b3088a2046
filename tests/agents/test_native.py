"""The compiled stages (mypyc, `scripts/native.py`): used only when built from today's sources, same outputs.

`make test` runs `make setup`, which builds them: this session's stage modules must be the compiled
ones. A build that no longer matches its sources must never be loaded (an edit would be shadowed by
old code), and the plain-Python sources must still give the golden outputs (the fallback).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents import stages

ROOT = Path(__file__).resolve().parents[2]


def test_this_process_runs_every_native_stage_compiled() -> None:
    assert stages.native_dir() is not None, "no current build in build/native: `make setup` builds it"
    assert stages.compiled() == list(stages.NATIVE)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    """A stamp for a copy of the stage sources, as `scripts/native.py` writes it."""
    sources = tmp_path / "sources"
    shutil.copytree(stages.SOURCES, sources, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "native"
    out.mkdir()
    stamp = {"python": stages.python_tag(), "sources": stages.source_hashes(sources), "mypyc": "x"}
    (out / stages.STAMP).write_text(json.dumps(stamp))
    return out, sources


def test_a_build_is_used_only_while_it_matches_the_sources_and_this_python(built: tuple[Path, Path],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out, sources = built
    assert stages.native_dir(out, sources) == out
    monkeypatch.setenv("SPORTSFLOW_NATIVE", "0")
    assert stages.native_dir(out, sources) is None, "turned off"
    monkeypatch.delenv("SPORTSFLOW_NATIVE")

    edited = sources / "ordering.py"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    assert stages.native_dir(out, sources) is None, "one edited source: the sources, not the stale build"

    stamp = json.loads((out / stages.STAMP).read_text())
    stamp["sources"] = stages.source_hashes(sources)
    (out / stages.STAMP).write_text(json.dumps({**stamp, "python": "cpython-310-linux"}))
    assert stages.native_dir(out, sources) is None, "built for another Python"
    (out / stages.STAMP).write_text("{broken")
    assert stages.native_dir(out, sources) is None
    (out / stages.STAMP).unlink()
    assert stages.native_dir(out, sources) is None


def test_an_edited_source_runs_as_written_not_as_last_built(tmp_path: Path) -> None:
    """From the outside: a process importing the stages after an edit runs the edit."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "agents", tree / "agents", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "schemas", tree / "schemas", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(stages.NATIVE_DIR, tree / "build" / "native")
    probe = "import agents.stages.ordering as o; print(o.__file__, getattr(o, 'EDITED', None))"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("SPORTSFLOW_NATIVE_DIR", None)

    def run() -> str:
        return subprocess.run([sys.executable, "-c", probe], cwd=tree, env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert run().endswith(".so None"), "the copied build matches the copied sources"
    ordering = tree / "agents" / "stages" / "ordering.py"
    ordering.write_text(ordering.read_text() + "\nEDITED = True\n")
    assert run() == f"{ordering} True"


def test_an_installed_copy_runs_compiled_from_the_build_its_environment_names(tmp_path: Path) -> None:
    """The container image's layout (Dockerfile): the packages installed without the repo around them, the
    build elsewhere, named by SPORTSFLOW_NATIVE_DIR."""
    site = tmp_path / "site-packages"
    for package in ("agents", "schemas"):
        shutil.copytree(ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    native = shutil.copytree(stages.NATIVE_DIR, tmp_path / "venv" / "native")
    probe = "from agents import stages; print(','.join(stages.compiled()))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPORTSFLOW_NATIVE")}
    env["PYTHONPATH"] = str(site)

    def run(**extra: str) -> str:
        return subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={**env, **extra},
                              capture_output=True, text=True, check=True).stdout.strip()

    assert run() == "", "no build beside an installed copy: the sources"
    assert run(SPORTSFLOW_NATIVE_DIR=str(native)) == ",".join(stages.NATIVE)


def test_the_image_compiles_the_stages_where_its_runtime_looks_for_them() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    built = dockerfile.split("scripts/native.py --out ", 1)[1].split()[0]
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert f"SPORTSFLOW_NATIVE_DIR={built}" in runtime
    assert built.startswith("/opt/venv/")
    assert "COPY --from=build /opt/venv /opt/venv" in runtime


def test_the_plain_sources_give_the_golden_outputs() -> None:
    """The fallback when no build is current: the frozen corpus through the uncompiled stages."""
    env = {**os.environ, "SPORTSFLOW_NATIVE": "0"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/agents/test_stages_golden.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
