"""Cold-start benchmark: `import handlers.api` from the packaged Lambda zip against its floor.

    npx serverless package --stage dev
    .venv/bin/python -m benchmarks.cold_start_bench [--zip .serverless/nebula-stream.zip]
        [--python python3.12] [--runs 9]

Unpacks the zip as Lambda's /var/task, puts beside it only what the python3.12 runtime
provides (boto3 and its dependencies, copied from this virtualenv: all pure Python, compiled
as the runtime ships them), and times in fresh interpreters, alternately, a bare
`import fastapi, mangum` (the floor: the API cannot start with less), the floor with one typed
route, and `import handlers.api`. /var/task is read-only, so nothing is cached between runs
(PYTHONDONTWRITEBYTECODE): a module without bytecode in the zip is compiled at every cold
start. The same imports are timed on the zip with its bytecode removed (how it was packaged
before scripts/bytecode.py), so one run prints what the bytecode saves. Goal: api <= 1.15 x
floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from scripts import bytecode

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
PROBE = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
# What any FastAPI app with one typed answer pays beyond the bare floor: FastAPI checks each
# response model against pydantic.v1, which it imports for that (about 65 ms here).
ONE_TYPED_ROUTE = (
    "import fastapi, mangum, pydantic\n"
    "class M(pydantic.BaseModel): x: int\n"
    "fastapi.FastAPI().get('/', response_model=M)(lambda: M(x=1))"
)


def runtime_dir(target: Path) -> Path:
    """boto3 and friends as the Lambda runtime ships them, with their bytecode."""
    site = Path(__import__("boto3").__file__).resolve().parent.parent
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, target / name)
    return target


def time_import(python: str, path: list[Path], modules: str, code: str | None = None) -> float:
    """Seconds to import `modules` (or run `code`) in a fresh interpreter that compiles
    without caching."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [python, "-c", PROBE.format(code=code or f"import {modules}")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=path[0],
    )
    return float(done.stdout.strip())


def lambda_task(archive: Path, target: Path, *, bytecode: bool = True) -> Path:
    """The zip unpacked as /var/task; with `bytecode=False`, its __pycache__ folders removed
    (the package as it was before scripts/bytecode.py)."""
    zipfile.ZipFile(archive).extractall(target)
    if not bytecode:
        for cache in list(target.rglob("__pycache__")):
            shutil.rmtree(cache)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=Path(".serverless/nebula-stream.zip"))
    parser.add_argument("--python", default=None, help="a CPython 3.12 (default: found)")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    if not args.zip.is_file():
        print(f"{args.zip} is missing: run `npx serverless package` first.", file=sys.stderr)
        return 2
    python = args.python or bytecode.find_python("python3.12")
    if python is None:
        print("no python3.12 found: pass --python", file=sys.stderr)
        return 2
    compiled = sum(n.endswith(".pyc") for n in zipfile.ZipFile(args.zip).namelist())
    with tempfile.TemporaryDirectory() as scratch:
        task = lambda_task(args.zip, Path(scratch) / "task")
        sources = lambda_task(args.zip, Path(scratch) / "sources", bytecode=False)
        runtime = Path(scratch) / "runtime"
        runtime.mkdir()
        runtime_dir(runtime)
        # The runtime ships its boto3 compiled, for its own Python.
        subprocess.run([python, "-m", "compileall", "-q", str(runtime)], check=True)
        path, before = [task, runtime], [sources, runtime]
        time_import(python, path, "fastapi, mangum")  # warm the OS cache
        time_import(python, before, "fastapi, mangum")
        floor, routed, api, floor_src, api_src = [], [], [], [], []
        for _ in range(args.runs):
            floor.append(time_import(python, path, "fastapi, mangum"))
            routed.append(time_import(python, path, "", ONE_TYPED_ROUTE))
            api.append(time_import(python, path, "handlers.api"))
            floor_src.append(time_import(python, before, "fastapi, mangum"))
            api_src.append(time_import(python, before, "handlers.api"))
    f, r, a = statistics.median(floor), statistics.median(routed), statistics.median(api)
    fs, a_s = statistics.median(floor_src), statistics.median(api_src)
    print(f"python {python}, {args.runs} fresh interpreters each, medians")
    print(f"the packaged zip ({compiled} modules with bytecode):")
    print(f"  floor: import fastapi, mangum   {f:.3f} s")
    print(f"  floor + one typed route         {r:.3f} s   ({r / f:.2f} x floor)")
    print(f"  api:   import handlers.api      {a:.3f} s   ({a / f:.2f} x floor, goal <= 1.15)")
    print("the same zip without bytecode (compiled at every cold start):")
    print(f"  floor: import fastapi, mangum   {fs:.3f} s")
    print(f"  api:   import handlers.api      {a_s:.3f} s   ({a_s / fs:.2f} x its floor)")
    print(
        f"bytecode: the API's cold import {a_s:.3f} s -> {a:.3f} s ({a_s / a:.2f} x faster); "
        f"{a / fs:.2f} x the floor without bytecode"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
