"""LocalLake's compare-and-set writes: create-if-absent and replace-if-unchanged."""

from __future__ import annotations

import threading
from pathlib import Path

from nebulastream.lake.storage import LocalLake


def test_put_if_absent_creates_once(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    assert lake.put_if_absent("alerts/a.json", b"first", "application/json")
    assert not lake.put_if_absent("alerts/a.json", b"second", "application/json")
    assert lake.get("alerts/a.json") == b"first"
    assert list(lake.list("alerts/")) == ["alerts/a.json"]  # no temp file left behind


def test_put_if_match_replaces_only_the_version_read(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    assert lake.get_versioned("s.json") is None
    assert not lake.put_if_match("s.json", b"x", "application/json", "nothing")
    lake.put_if_absent("s.json", b"v1", "application/json")
    found = lake.get_versioned("s.json")
    assert found is not None
    _data, version = found
    assert lake.put_if_match("s.json", b"v2", "application/json", version)
    assert not lake.put_if_match("s.json", b"v3", "application/json", version)
    assert lake.get("s.json") == b"v2"


def test_concurrent_writers_of_one_version_one_wins(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    lake.put_if_absent("s.json", b"v0", "application/json")
    version = lake.get_versioned("s.json")[1]  # type: ignore[index]
    results: list[bool] = []
    start = threading.Barrier(8)

    def write(i: int) -> None:
        start.wait()
        results.append(lake.put_if_match("s.json", f"w{i}".encode(), "text/plain", version))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
