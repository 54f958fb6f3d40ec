"""Glue job assets: the job script and a zip of the nebulastream package, named by content hash.

`serverless deploy` runs this through scripts/serverless-glue-assets.js:

    python3 scripts/glue_assets.py hash          # 16 hex digits, part of the S3 key in the template
    python3 scripts/glue_assets.py build DIR     # DIR/curate_job.py, DIR/nebulastream.zip, manifest

The hash covers the script and every package file, so changing either changes the template
and the next deploy uploads (and points the job at) the new files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path("glue/curate_job.py")
PACKAGE = "nebulastream"
ZIP_NAME = "nebulastream.zip"
MANIFEST = "manifest.json"
# Zip entries carry this timestamp so the same sources always give the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def package_files(root: Path = ROOT) -> list[Path]:
    """The package's files relative to `root`, sorted; no bytecode or caches."""
    base = root / PACKAGE
    if not base.is_dir():
        raise FileNotFoundError(f"{base} is missing: run from a NebulaStream checkout.")
    return sorted(
        path.relative_to(root)
        for path in base.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in {".pyc", ".pyo"}
    )


def content_hash(root: Path = ROOT) -> str:
    """16 hex digits over the script (or its absence) and every package file, path and bytes."""
    digest = hashlib.sha256()
    script = root / SCRIPT
    entries = [*package_files(root), SCRIPT]
    for relative in entries:
        digest.update(relative.as_posix().encode() + b"\0")
        path = root / relative
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    if not script.is_file():
        digest.update(b"no-script")
    return digest.hexdigest()[:16]


def build_zip(root: Path, destination: Path) -> Path:
    """The package as Glue's --extra-py-files wants it: `nebulastream/...` at the zip's root."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in package_files(root):
            info = zipfile.ZipInfo(relative.as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (root / relative).read_bytes())
    return destination


def build(root: Path, out: Path) -> dict[str, object]:
    """Write the assets into `out` and return the manifest (also written as manifest.json)."""
    out.mkdir(parents=True, exist_ok=True)
    build_zip(root, out / ZIP_NAME)
    script = root / SCRIPT
    files = [ZIP_NAME]
    if script.is_file():
        shutil.copyfile(script, out / SCRIPT.name)
        files.append(SCRIPT.name)
    manifest: dict[str, object] = {
        "hash": content_hash(root),
        "files": files,
        "script": SCRIPT.as_posix() if script.is_file() else None,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("hash", help="print the content hash")
    build_cmd = commands.add_parser("build", help="write the assets into a folder")
    build_cmd.add_argument("out", type=Path)
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: here)")
    args = parser.parse_args(argv)
    if args.command == "hash":
        print(content_hash(args.root))
    else:
        print(json.dumps(build(args.root, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
