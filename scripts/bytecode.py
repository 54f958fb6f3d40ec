"""Adds CPython bytecode to a packaged Lambda zip, so a cold start imports instead of compiling.

`serverless package` runs this through scripts/serverless-bytecode.js, with a Python of the
functions' runtime (python3.12):

    python3.12 scripts/bytecode.py .serverless/nebula-stream.zip

The package holds no bytecode: serverless-python-requirements' `slim` strips it, and the
service's own code is packaged from source. /var/task is read-only, so without it every cold
start compiles each module it imports, and throws the result away: about 0.46 s of the API's
0.78 s cold import here (benchmarks/cold_start_bench.py). Each `x.py` in the zip gets its
`__pycache__/x.cpython-312.pyc` beside it, compiled as *unchecked-hash* bytecode (PEP 552): the
runtime loads it without comparing timestamps, which a zip (2-second resolution) and Lambda's
unpacking would not keep, and the file is byte-identical from build to build. The sources stay,
so tracebacks still show lines. Entries that are already there are left as they are.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import marshal
import os
import sys
import zipfile
from pathlib import Path, PurePosixPath

# PEP 552 flags: bit 0, hash-based; bit 1 (check the source) unset.
UNCHECKED_HASH = (0b01).to_bytes(4, "little")


def cache_name(source: str) -> str:
    """`pkg/mod.py` -> `pkg/__pycache__/mod.cpython-312.pyc` for this interpreter."""
    return importlib.util.cache_from_source(source)


def compile_source(source: bytes, name: str) -> bytes | None:
    """Unchecked-hash bytecode for `source` (PEP 552: magic, flags 0b01, source hash,
    marshalled code), or None when it does not compile: such a file is left to the runtime,
    as before (a template or a test helper no import reaches)."""
    try:
        code = compile(source, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    header = importlib.util.MAGIC_NUMBER + UNCHECKED_HASH + importlib.util.source_hash(source)
    return header + marshal.dumps(code)


def add_bytecode(archive: Path) -> dict[str, object]:
    """Rewrites `archive` with bytecode beside each module; returns what it did."""
    with zipfile.ZipFile(archive) as zin:
        infos = zin.infolist()
        present = {info.filename for info in infos}
        tmp = archive.with_name(archive.name + ".tmp")
        compiled = failed = 0
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zout:
            for info in infos:
                data = zin.read(info)
                zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
                if not info.filename.endswith(".py") or info.is_dir():
                    continue
                target = PurePosixPath(cache_name(info.filename)).as_posix()
                if target in present:
                    continue
                code = compile_source(data, info.filename)
                if code is None:
                    failed += 1
                    continue
                entry = zipfile.ZipInfo(target, date_time=info.date_time)
                entry.external_attr = 0o644 << 16
                zout.writestr(entry, code, compress_type=zipfile.ZIP_DEFLATED)
                present.add(target)
                compiled += 1
    os.replace(tmp, archive)
    return {
        "zip": str(archive),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "compiled": compiled,
        "not_compiled": failed,
        "zip_bytes": archive.stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zips", nargs="+", type=Path)
    parser.add_argument(
        "--runtime",
        default="python3.12",
        help="the functions' runtime; this interpreter must be that Python (default python3.12)",
    )
    args = parser.parse_args(argv)
    mine = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if mine != args.runtime:
        raise SystemExit(f"{sys.executable} is {mine}: {args.runtime}'s bytecode needs that Python")
    for archive in args.zips:
        print(json.dumps(add_bytecode(archive)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
