from __future__ import annotations

from pathlib import Path

import pytest

from nebulastream.lake.storage import LakeError, LocalLake, open_lake


def test_put_get_list_and_overwrite(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    lake.put("raw/dt=2026-11-28/a.jsonl", b"one\n", "application/x-ndjson")
    lake.put("raw/dt=2026-11-28/a.jsonl", b"two\n", "application/x-ndjson")
    lake.put("curated/dt=2026-11-28/x.parquet", b"P", "application/octet-stream")
    assert lake.get("raw/dt=2026-11-28/a.jsonl") == b"two\n"
    assert list(lake.list("raw/")) == ["raw/dt=2026-11-28/a.jsonl"]
    assert lake.exists("curated/dt=2026-11-28/x.parquet")
    assert not lake.exists("raw/dt=2026-11-28/b.jsonl")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_a_failed_write_leaves_neither_a_partial_nor_a_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = LocalLake(tmp_path)
    lake.put("raw/k.jsonl", b"old\n", "application/x-ndjson")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("nebulastream.lake.storage.os.replace", boom)
    with pytest.raises(LakeError, match="disk full"):
        lake.put("raw/k.jsonl", b"new\n", "application/x-ndjson")
    assert lake.get("raw/k.jsonl") == b"old\n"
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["k.jsonl"]


def test_keys_cannot_escape_the_lake_folder(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="escapes"):
        LocalLake(tmp_path / "lake").put("../outside.txt", b"x", "text/plain")


def test_lake_uri_must_be_a_folder_or_s3() -> None:
    with pytest.raises(LakeError, match="s3://bucket"):
        open_lake("gs://bucket/x")
    with pytest.raises(LakeError, match="S3 client"):
        open_lake("s3://bucket")
