"""The Glue job's assets: a deterministic, importable package zip named by content hash."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts import glue_assets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the package (with a stray bytecode cache) and no Glue script yet."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "nebulastream", root / "nebulastream")
    cache = root / "nebulastream" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "settings.cpython-311.pyc").write_bytes(b"\x00stale")
    return root


def _add_script(root: Path, text: str = "print('curate')\n") -> None:
    (root / "glue").mkdir(exist_ok=True)
    (root / glue_assets.SCRIPT).write_text(text)


def test_same_sources_give_the_same_hash_and_identical_zip_bytes(
    checkout: Path, tmp_path: Path
) -> None:
    first = glue_assets.build(checkout, tmp_path / "a")
    second = glue_assets.build(checkout, tmp_path / "b")
    assert first["hash"] == second["hash"] == glue_assets.content_hash(checkout)
    zip_a = (tmp_path / "a" / glue_assets.ZIP_NAME).read_bytes()
    assert zip_a == (tmp_path / "b" / glue_assets.ZIP_NAME).read_bytes()


def test_changing_the_package_or_adding_the_script_changes_the_hash(checkout: Path) -> None:
    before = glue_assets.content_hash(checkout)
    _add_script(checkout)
    with_script = glue_assets.content_hash(checkout)
    schema = checkout / "nebulastream" / "schema.py"
    schema.write_text(schema.read_text() + "\n# changed\n")
    assert len({before, with_script, glue_assets.content_hash(checkout)}) == 3


def test_bytecode_caches_neither_ship_nor_change_the_hash(checkout: Path, tmp_path: Path) -> None:
    before = glue_assets.content_hash(checkout)
    (checkout / "nebulastream" / "__pycache__" / "models.cpython-311.pyc").write_bytes(b"x")
    assert glue_assets.content_hash(checkout) == before
    glue_assets.build(checkout, tmp_path / "out")
    names = zipfile.ZipFile(tmp_path / "out" / glue_assets.ZIP_NAME).namelist()
    assert "nebulastream/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_zip_is_importable_the_way_glue_extra_py_files_adds_it(
    checkout: Path, tmp_path: Path
) -> None:
    glue_assets.build(checkout, tmp_path / "out")
    archive = tmp_path / "out" / glue_assets.ZIP_NAME
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import nebulastream.schema as s; "
        "print(s.__file__, ','.join(s.CURATED_COLUMNS))"
    )
    # -I: isolated, so only the zip can provide the package (not the repository or the venv).
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(archive)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    where, columns = done.stdout.split()
    assert where.startswith(str(archive))
    assert columns.startswith("coin,ts,price_usd")


def test_build_ships_the_script_only_when_it_exists(checkout: Path, tmp_path: Path) -> None:
    without = glue_assets.build(checkout, tmp_path / "without")
    assert without["script"] is None
    assert not (tmp_path / "without" / "curate_job.py").exists()
    _add_script(checkout, "# the job\n")
    with_script = glue_assets.build(checkout, tmp_path / "with")
    assert with_script["script"] == "glue/curate_job.py"
    assert (tmp_path / "with" / "curate_job.py").read_text() == "# the job\n"
    assert with_script["files"] == [glue_assets.ZIP_NAME, "curate_job.py"]
