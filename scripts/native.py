"""Compile the stages in `agents.stages.NATIVE` with mypyc into build/native (run by `make setup`).

    .venv/bin/python scripts/native.py          # build if the sources changed since the last build
    .venv/bin/python scripts/native.py --force  # build anyway

The stamp (`build/native/stamp.json`) records the sources' hashes and the Python the build is for; it
is written last, after every module compiled, and `agents/stages/__init__.py` uses the build only
while it matches. mypyc is the mypy the project pins (pyproject.toml), so the compiled code follows
the same type rules `make lint` checks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SPORTSFLOW_NATIVE"] = "0"  # read the sources' hashes without loading a previous build

from agents import stages  # noqa: E402 - after the path and the switch above

GROUP = "sportsflow_stages"  # the shared library mypyc builds for the modules: sportsflow_stages__mypyc


def mypy_version() -> str:
    from mypy.version import __version__  # noqa: PLC0415 - a dev tool, only when building

    return str(__version__)


def build(out: Path, force: bool = False) -> bool:
    """Compile into `out`; False when the build there is already current."""
    sources = ROOT / "agents" / "stages"
    stamp = {"python": stages.python_tag(), "sources": stages.source_hashes(sources), "mypyc": mypy_version()}
    try:
        if not force and json.loads((out / stages.STAMP).read_text()) == stamp:
            return False
    except (OSError, ValueError):
        pass
    from mypyc.build import mypycify  # noqa: PLC0415 - a dev tool, only when building
    from setuptools import setup  # noqa: PLC0415

    warnings.filterwarnings("ignore", module="setuptools")  # its notes on pyproject.toml, which it reads from here

    shutil.rmtree(out, ignore_errors=True)
    temp = out.parent / f"{out.name}-temp"
    started = time.monotonic()
    cwd = Path.cwd()
    os.chdir(ROOT)  # mypyc names modules by their paths from here
    try:
        setup(
            name="sportsflow-native",
            ext_modules=mypycify([f"agents/stages/{name}.py" for name in stages.NATIVE], opt_level="3",
                                 target_dir=str(temp), group_name=GROUP),
            script_args=["-q", "build_ext", "--build-lib", str(out), "--build-temp", str(temp)],
        )
    finally:
        os.chdir(cwd)
    missing = [name for name in stages.NATIVE if not list((out / "agents" / "stages").glob(f"{name}.*.so"))]
    if missing:
        raise SystemExit(f"native: mypyc built no extension for {missing}")
    (out / stages.STAMP).write_text(json.dumps(stamp, indent=1))
    print(f"native: compiled {len(stages.NATIVE)} stage modules in {time.monotonic() - started:.0f}s -> {out}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=stages.NATIVE_DIR)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    if not build(args.out.resolve(), args.force):
        print(f"native: {args.out} is current")


if __name__ == "__main__":
    main()
