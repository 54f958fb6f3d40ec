"""Copy the pinned browser libraries from node_modules into the API's static files.

The dashboard's chart library (uPlot) and /docs' Swagger UI: served by the app itself, so
nothing loads from a third-party host and both work offline.
"""

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
# /docs (api/static/docs/index.html names them); no standalone preset: the page has no top bar.
DOCS_PACKAGE = "swagger-ui-dist"
DOCS_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
DOCS_VENDOR = ROOT / "api" / "static" / "docs" / "vendor"


class BuildError(RuntimeError):
    """The library is not installed at the version package.json pins."""


def pinned_version(root: Path = ROOT, package: str = PACKAGE) -> str:
    manifest = json.loads((root / "package.json").read_text())
    return str(manifest["dependencies"][package])


def build(
    root: Path = ROOT,
    vendor: Path = VENDOR,
    package: str = PACKAGE,
    files: tuple[str, ...] = FILES,
) -> list[Path]:
    """Copy a library's built files into `vendor`; refuse a version other than the pinned one."""
    wanted = pinned_version(root, package)
    installed_manifest = root / "node_modules" / package / "package.json"
    if not installed_manifest.exists():
        raise BuildError(
            f"{package} is not installed: run `npm ci` (or `make install`) in {root} first."
        )
    installed = json.loads(installed_manifest.read_text())["version"]
    if installed != wanted:
        raise BuildError(
            f"node_modules holds {package} {installed} but package.json pins {wanted}: "
            "run `npm ci`."
        )
    vendor.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in files:
        target = vendor / Path(name).name
        shutil.copyfile(installed_manifest.parent / name, target)
        copied.append(target)
    return copied


def main() -> int:
    try:
        copied = build() + build(ROOT, DOCS_VENDOR, DOCS_PACKAGE, DOCS_FILES)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in copied:
        print(f"static: {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
