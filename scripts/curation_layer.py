"""The curate function's Lambda layer: duckdb and pyarrow for CPython 3.12 on x86_64 Linux.

`serverless package` runs this through scripts/serverless-curation-layer.js:

    python3 scripts/curation_layer.py hash         # 16 hex digits: part of the layer's S3 key
    python3 scripts/curation_layer.py build DIR    # DIR/curation-engine.zip and DIR/layer.json

The wheels are those of requirements-curate.txt, installed with pip for the Lambda platform
(no Docker). duckdb 2 ships manylinux_2_28 wheels only, which the python3.12 runtime (Amazon
Linux 2023, glibc 2.34) runs, so the platform is manylinux_2_28, not manylinux2014. Slimmed
of what curation never loads (Arrow Flight, C++ headers, Cython sources, test
suites, bytecode, copies of a shared library the wheel stores three times), the layer is
about 185 MB unzipped: with the ~30 MB code package (bytecode included) the function stays
within Lambda's 250 MB limit, which the whole wheels (232 MB) beside the API's dependencies
would not. The layer keeps no bytecode: it has 36 MB of headroom, and the hourly run's
imports are not on anyone's request path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements-curate.txt"
ZIP_NAME = "curation-engine.zip"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024**2
PLATFORM = [
    "--platform",
    "manylinux_2_28_x86_64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
]
# Paths under python/ that curation never imports (globs, relative to the site-packages root).
SLIM = [
    "pyarrow/include",
    "pyarrow/src",
    "pyarrow/tests",
    "pyarrow/libarrow_flight.so*",
    "pyarrow/_flight*.so",
    "pyarrow/flight.py",
    "pyarrow/*.pyx",
    "pyarrow/*.pxd",
    "pyarrow/*.pxi",
    "pyarrow/includes",
    "pyarrow/libarrow_python.so",  # unversioned copies: the extensions load the .so.NNNN
    "pyarrow/libarrow_python.so.*.*.*",
    "bin",
    "**/__pycache__",
]
_EPOCH = (1980, 1, 1, 0, 0, 0)


def content_hash() -> str:
    """16 hex digits over the pins and the recipe (platform, slimming): what decides the zip."""
    recipe = json.dumps([REQUIREMENTS.read_text(), PLATFORM, SLIM])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def install(target: Path, requirements: Path = REQUIREMENTS) -> None:
    """pip-install the pinned wheels for the Lambda platform into target/python/."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    command += ["--disable-pip-version-check", *PLATFORM, "-r", str(requirements)]
    command += ["--target", str(target / "python")]
    subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, fixed arguments


def slim(site: Path) -> list[str]:
    """Remove what curation never loads; returns the removed paths (relative)."""
    removed = []
    for pattern in SLIM:
        for path in sorted(site.glob(pattern)):
            removed.append(path.relative_to(site).as_posix())
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    return removed


def unzipped_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_zip(folder: Path, destination: Path) -> None:
    """A deterministic zip (sorted entries, fixed times), so an unchanged layer is unchanged."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _EPOCH)
            info.external_attr = (0o755 if path.suffix == ".so" else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def build(out: Path) -> dict[str, object]:
    """DIR/curation-engine.zip and DIR/layer.json (sizes); reused while the pins are unchanged."""
    out.mkdir(parents=True, exist_ok=True)
    digest = content_hash()
    manifest_path = out / "layer.json"
    if manifest_path.is_file() and (out / ZIP_NAME).is_file():
        manifest: dict[str, object] = json.loads(manifest_path.read_text())
        if manifest.get("hash") == digest:
            return manifest
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "layer"
        install(folder)
        removed = slim(folder / "python")
        size = unzipped_size(folder)
        if size > LAMBDA_UNZIPPED_LIMIT:
            raise SystemExit(f"the curation layer is {size / 1024**2:.0f} MB unzipped: too big")
        write_zip(folder, out / ZIP_NAME)
    manifest = {
        "hash": digest,
        "zip": ZIP_NAME,
        "unzipped_bytes": size,
        "zip_bytes": (out / ZIP_NAME).stat().st_size,
        "removed": removed,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("hash")
    sub.add_parser("build").add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "hash":
        print(content_hash())
        return 0
    manifest = build(args.out)
    print(json.dumps({k: v for k, v in manifest.items() if k != "removed"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
