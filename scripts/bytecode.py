"""Adds CPython bytecode to a packaged Lambda zip, so a cold start imports instead of compiling.

`serverless package` runs this through scripts/serverless-bytecode.js:

    python3 scripts/bytecode.py find python3.12     # prints a CPython 3.12 to compile with
    python3.12 scripts/bytecode.py add --runtime python3.12 .serverless/nebula-stream.zip

`find` looks at NEBULA_BYTECODE_PYTHON, then `python3.12` on PATH, then pyenv's newest 3.12
(selected or not); benchmarks/cold_start_bench.py and the template tests use the same lookup.

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
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

# PEP 552 flags: bit 0, hash-based; bit 1 (check the source) unset.
UNCHECKED_HASH = (0b01).to_bytes(4, "little")


def cache_name(source: str, runtime: str) -> str:
    """`pkg/mod.py` -> `pkg/__pycache__/mod.cpython-312.pyc` for runtime `python3.12`."""
    folder, _, file = source.rpartition("/")
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    cache = f"__pycache__/{file.removesuffix('.py')}.{tag}.pyc"
    return f"{folder}/{cache}" if folder else cache


def find_python(runtime: str) -> str | None:
    """An interpreter that is `runtime` (python3.12): NEBULA_BYTECODE_PYTHON, `python3.12` on
    PATH (a pyenv shim for a version not selected fails the probe), pyenv's newest 3.12."""
    version = runtime.removeprefix("python")
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    installs = sorted(
        (root / "versions").glob(f"{version}.*/bin/{runtime}"),
        key=lambda p: tuple(int(x) for x in p.parts[-3].split(".") if x.isdigit()),
        reverse=True,
    )
    candidates = [os.environ.get("NEBULA_BYTECODE_PYTHON"), shutil.which(runtime), *installs]
    probe = "import sys; print(f'python{sys.version_info[0]}.{sys.version_info[1]}')"
    for candidate in filter(None, candidates):
        try:
            probed = [str(candidate), "-c", probe]  # an interpreter asked its version only
            done = subprocess.run(probed, capture_output=True, text=True)  # noqa: S603
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == runtime:
            return str(candidate)
    return None


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


def add_bytecode(archive: Path, runtime: str) -> dict[str, object]:
    """Rewrites `archive` with bytecode beside each module; returns what it did. This
    interpreter must be `runtime`."""
    with zipfile.ZipFile(archive) as zin:
        infos = zin.infolist()
        present = {info.filename for info in infos}
        tmp = archive.with_name(archive.name + ".tmp")
        compiled = failed = 0
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zout:
            for info in infos:
                data = zin.read(info)
                zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
                if not info.filename.endswith(".py"):
                    continue
                target = cache_name(info.filename, runtime)
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
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("find").add_argument("runtime", help="the functions' runtime, e.g. python3.12")
    add = sub.add_parser("add")
    add.add_argument("zips", nargs="+", type=Path)
    add.add_argument("--runtime", default="python3.12", help="this interpreter must be it")
    args = parser.parse_args(argv)
    if args.command == "find":
        found = find_python(args.runtime)
        if found is None:
            return 1
        print(found)
        return 0
    mine = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if mine != args.runtime:
        raise SystemExit(f"{sys.executable} is {mine}: {args.runtime}'s bytecode needs that Python")
    for archive in args.zips:
        print(json.dumps(add_bytecode(archive, args.runtime)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
