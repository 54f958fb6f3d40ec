"""Copy the pinned chart library from node_modules into the dashboard's static files."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "uplot"
# The built files the page loads (api/static/index.html names them).
FILES = ("dist/uPlot.iife.min.js", "dist/uPlot.min.css")
VENDOR = ROOT / "api" / "static" / "vendor"


class BuildError(RuntimeError):
    """The library is not installed at the version package.json pins."""


def pinned_version(root: Path = ROOT) -> str:
    manifest = json.loads((root / "package.json").read_text())
    return str(manifest["dependencies"][PACKAGE])


def build(root: Path = ROOT, vendor: Path = VENDOR) -> list[Path]:
    """Copy the library's built files into `vendor`; refuse a version other than the pinned one."""
    wanted = pinned_version(root)
    installed_manifest = root / "node_modules" / PACKAGE / "package.json"
    if not installed_manifest.exists():
        raise BuildError(
            f"{PACKAGE} is not installed: run `npm ci` (or `make install`) in {root} first."
        )
    installed = json.loads(installed_manifest.read_text())["version"]
    if installed != wanted:
        raise BuildError(
            f"node_modules holds {PACKAGE} {installed} but package.json pins {wanted}: "
            "run `npm ci`."
        )
    vendor.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in FILES:
        target = vendor / Path(name).name
        shutil.copyfile(installed_manifest.parent / name, target)
        copied.append(target)
    return copied


def main() -> int:
    try:
        copied = build()
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in copied:
        print(f"dashboard: {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
