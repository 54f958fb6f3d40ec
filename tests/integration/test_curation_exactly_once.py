"""Exactly once per raw batch: any sequence of fetches, re-fetches, backfills and incremental
runs leaves curated/ (and quarantine/) as `--full` builds them from the same raw zone."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nebulastream.curation.definition import CurationConfig
from nebulastream.curation.duckdb_engine import transform
from nebulastream.lake.storage import LocalLake
from tests.curation_support import (
    OPS_NOW,
    OPS_SLOTS,
    Backfill,
    Fetch,
    Op,
    Transform,
    apply_ops,
    curated_rows,
    files_under,
    raw_copy,
)

CONFIG = CurationConfig()
# A few prices, one of them invalid, so a re-fetch can turn a rejected line into a good one
# and back; few values make equal observations (and so ties) common.
PRICES = st.sampled_from([95000.0, 95100.0, 96000.0, -1.0])
COINS = st.sampled_from(["BTC", "ETH"])

fetches = st.builds(
    Fetch,
    slot=st.integers(0, OPS_SLOTS - 1),
    prices=st.lists(st.tuples(COINS, PRICES, st.integers(0, 2)), min_size=1, max_size=3).map(tuple),
)
backfills = st.integers(0, 3).flatmap(
    lambda start: st.builds(
        Backfill,
        coin=COINS,
        start=st.just(start),
        # Windows never cross midnight (OPS_BASE is 22:00), as backfill's day windows do not.
        hours=st.integers(1, 2 - start if start < 2 else 4 - start),
        points=st.lists(st.tuples(st.integers(0, 11), PRICES), max_size=5).map(tuple),
    )
)
operations = st.lists(
    st.one_of(fetches, fetches, backfills, st.just(Transform())), min_size=1, max_size=14
)


def curate(lake: LocalLake, *, full: bool = False) -> Any:
    return transform(lake, config=CONFIG, now=OPS_NOW, full=full)


def outputs(root: Path) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    rows = curated_rows(root) if (root / "curated").exists() else []
    return rows, files_under(root, "quarantine")


def full_rebuild_of(root: Path, scratch: Path) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    curate(raw_copy(root, scratch), full=True)
    return outputs(scratch)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=operations)
def test_incremental_curation_equals_a_full_rebuild_after_any_sequence(ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "lake"
        lake = LocalLake(root)
        apply_ops(lake, [*ops, Transform()], curate)
        incremental = outputs(root)
        assert incremental == full_rebuild_of(root, Path(scratch) / "full")
        rows, _ = incremental
        keys = [(r["coin"], r["ts"], r["source"]) for r in rows]
        assert len(keys) == len(set(keys))  # every valid point exactly once
        # ...and `--full` in place changes nothing either.
        curate(lake, full=True)
        assert outputs(root) == incremental


def test_a_slot_fetched_three_times_between_runs_is_curated_once(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = LocalLake(root)
    refetch = Fetch(7, (("BTC", 95000.0, 0), ("ETH", 3400.0, 0)))
    apply_ops(lake, [refetch, Transform(), refetch, Transform(), refetch, Transform()], curate)
    rows, _ = outputs(root)
    assert sorted((r["coin"], r["raw_key"]) for r in rows) == [
        ("BTC", "raw/dt=2026-11-26/coingecko-spot-20261126T2235Z.jsonl"),
        ("ETH", "raw/dt=2026-11-26/coingecko-spot-20261126T2235Z.jsonl"),
    ]
    assert outputs(root) == full_rebuild_of(root, tmp_path / "full")


def test_a_stale_price_shadowed_by_a_refetched_slot_comes_back(tmp_path: Path) -> None:
    # Slot 1 repeats slot 0's BTC instant (a stale CoinGecko price) and wins the dedup; once
    # slot 1 is re-fetched with a fresh instant, slot 0's row must be curated again.
    root = tmp_path / "lake"
    ops: list[Op] = [
        Fetch(0, (("BTC", 95000.0, 0),)),
        Fetch(1, (("BTC", 95000.0, 1),)),
        Transform(),
        Fetch(1, (("BTC", 95100.0, 0),)),
        Transform(),
    ]
    apply_ops(LocalLake(root), ops, curate)
    rows, _ = outputs(root)
    assert [r["price_usd"] for r in rows] == [95000.0, 95100.0]
    assert outputs(root) == full_rebuild_of(root, tmp_path / "full")


def test_a_removed_raw_batch_takes_its_rows_and_quarantine_with_it(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = LocalLake(root)
    apply_ops(lake, [Fetch(3, (("BTC", -1.0, 0), ("ETH", 3400.0, 0))), Transform()], curate)
    assert outputs(root)[0] and outputs(root)[1]
    for path in (root / "raw").rglob("*.jsonl"):
        path.unlink()
    report = curate(lake)
    assert report.batches_removed == 1
    assert outputs(root) == ([], {})
