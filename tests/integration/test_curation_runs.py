"""Curation runs as users meet them: re-fetched slots, two runs at once, a killed run, a
damaged day, a crashed first run; each on a real lake, the API reading it through DuckDB."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow.compute as pc
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from nebulastream.cli import app as cli
from nebulastream.curation.definition import CurationConfig
from nebulastream.curation.duckdb_engine import DuckDBEngine as CurationDuckDB
from nebulastream.curation.duckdb_engine import transform
from nebulastream.curation.lease import Holder, LeaseHeldError, hold_lease
from nebulastream.curation.outputs import VersionedLake
from nebulastream.curation.pipeline import curate
from nebulastream.lake.layout import LEASE, spot_key
from nebulastream.lake.storage import LocalLake, S3Lake
from nebulastream.query.duckdb import DuckDBEngine
from tests.curation_support import (
    FIXTURE_NOW,
    curated_rows,
    files_under,
    fixture_lake,
    raw_copy,
    raw_line,
)
from tests.integration.api_lake import client_for, settings_for
from tests.integration.fake_coingecko import Answer, Script, serve
from tests.integration.test_cli_ingest import nebula

CONFIG = CurationConfig()
REPO = Path(__file__).resolve().parents[2]


def full_rows(root: Path, scratch: Path, now: datetime = FIXTURE_NOW) -> list[dict[str, Any]]:
    transform(raw_copy(root, scratch), config=CONFIG, now=now, full=True)
    return curated_rows(scratch)


def api_answers(root: Path, now: datetime = FIXTURE_NOW) -> dict[str, Any]:
    """What the API answers over the lake: /coins, daily BTC and ETH, BTC's 5-minute slots."""
    engine = DuckDBEngine(root, recheck_seconds=0)
    histories = {
        "btc": ("BTC", "1d", "2026-11-25T00:00:00Z", "2026-11-28T00:00:00Z"),
        "eth": ("ETH", "1d", "2026-11-25T00:00:00Z", "2026-11-28T00:00:00Z"),
        "btc_slots": ("BTC", "5m", "2026-11-27T00:45:00Z", "2026-11-27T01:00:00Z"),
    }
    with client_for(engine, settings_for(root), now=now) as client:
        coins = client.get("/coins")
        answers: dict[str, Any] = {"coins": (coins.status_code, coins.json())}
        for name, (coin, interval, start, end) in histories.items():
            params = {"coin": coin, "interval": interval, "start": start, "end": end}
            answers[name] = client.get("/prices/history", params=params).json()
    engine.close()
    return answers


# -- a re-fetched slot ----------------------------------------------------------------------


def _price_answer(updated: int, btc: float) -> Answer:
    body = {
        "bitcoin": {"usd": btc, "usd_market_cap": 1.9e12, "last_updated_at": updated},
        "ethereum": {"usd": 3400.0, "usd_market_cap": 4.1e11, "last_updated_at": updated},
        "solana": {"usd": 240.0, "usd_market_cap": 1.1e11, "last_updated_at": updated},
    }
    return Answer(200, json.dumps(body))


def test_three_fetches_and_transforms_in_one_slot_leave_one_row_per_coin(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    updated = int(time.time()) - 30
    script = Script([_price_answer(updated + i, 95000.0 + i) for i in range(3)])
    with serve(script) as url:
        for _ in range(3):
            assert nebula("fetch", base_url=url, lake=lake).returncode == 0
            done = nebula("transform", base_url=url, lake=lake)
            assert done.returncode == 0, done.stderr
            time.sleep(2)
    batches = sorted((lake / "raw").rglob("*.jsonl"))
    assert 1 <= len(batches) <= 2  # three fetches two seconds apart can straddle one boundary
    rows = curated_rows(lake)
    assert sorted(r["coin"] for r in rows) == sorted(["BTC", "ETH", "SOL"] * len(batches))
    assert rows == full_rows(lake, tmp_path / "full", datetime.now(UTC))
    # The API agrees: one observation per coin and batch, and the last fetch's price.
    engine = DuckDBEngine(lake, recheck_seconds=0)
    with client_for(engine, settings_for(lake), now=datetime.now(UTC)) as client:
        coins = {c["coin"]: c for c in client.get("/coins").json()["coins"]}
        latest = client.get("/prices/latest", params={"coin": "BTC"}).json()
    engine.close()
    assert coins["BTC"]["rows"] == len(batches)
    assert latest["prices"][0]["price_usd"] == 95002.0


def test_before_curation_the_api_shows_a_refetched_slot_once(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    transform(lake, config=CONFIG, now=FIXTURE_NOW)
    key = spot_key("coingecko", datetime(2026, 11, 27, 0, 50, tzinfo=UTC))
    before = api_answers(root)
    # The slot is fetched again (a new instant, a new price) and not yet curated.
    (root / key).write_bytes(
        raw_line(
            price_usd=97000.0,
            observed_at="2026-11-27T00:51:00.000Z",
            fetched_at="2026-11-27T00:51:30.000Z",
            slot="2026-11-27T00:50:00.000Z",
        )
    )
    served = api_answers(root)
    transform(lake, config=CONFIG, now=FIXTURE_NOW)
    assert api_answers(root) == served  # curation changes nothing the API already served
    day = next(p for p in served["btc"]["points"] if p["ts"] == "2026-11-27T00:00:00.000Z")
    old = next(p for p in before["btc"]["points"] if p["ts"] == "2026-11-27T00:00:00.000Z")
    assert day["samples"] == old["samples"]  # replaced, not added
    slot = next(p for p in served["btc_slots"]["points"] if p["ts"] == "2026-11-27T00:50:00.000Z")
    assert (slot["close"], slot["samples"]) == (97000.0, 1)


# -- one writer at a time -------------------------------------------------------------------


class PausedEngine(CurationDuckDB):
    """The DuckDB engine, stopping after the run has planned and before it reads raw."""

    def __init__(self, entered: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.entered, self.release = entered, release

    def load_raw(self, lake: VersionedLake, keys: Sequence[str]) -> None:
        self.entered.set()
        assert self.release.wait(30)
        super().load_raw(lake, keys)


def test_a_run_started_during_another_waits_for_it_and_no_batch_is_lost(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    entered, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def run_a() -> None:
        engine = PausedEngine(entered, release)
        results["a"] = curate(lake, engine, config=CONFIG, now=FIXTURE_NOW, owner="run A")

    first = threading.Thread(target=run_a)
    first.start()
    assert entered.wait(30)
    # A has planned without this batch, and has not written yet: the interleaving in which
    # a second run used to record the batch as curated while A rewrote its day without it.
    late = spot_key("coingecko", datetime(2026, 11, 27, 0, 30, tzinfo=UTC))
    (root / late).write_bytes(
        raw_line(
            observed_at="2026-11-27T00:30:02.000Z",
            fetched_at="2026-11-27T00:30:04.000Z",
            slot="2026-11-27T00:30:00.000Z",
            price_usd=95300.0,
        )
    )
    with pytest.raises(LeaseHeldError, match=r"run A \(pid \d+ on .+\) since 2026-"):
        transform(lake, config=CONFIG, now=FIXTURE_NOW, wait_seconds=0.3)

    def run_b() -> None:
        results["b"] = transform(lake, config=CONFIG, now=FIXTURE_NOW, wait_seconds=30)

    second = threading.Thread(target=run_b)
    second.start()
    time.sleep(0.5)  # B is waiting for the lease
    release.set()
    first.join(30)
    second.join(30)
    assert results["a"].batches_changed == 12
    assert results["b"].batches_changed == 1  # B ran after A and found the late batch
    rows = curated_rows(root)
    assert any(r["raw_key"] == late and r["price_usd"] == 95300.0 for r in rows)
    assert rows == full_rows(root, tmp_path / "full")


_HOLDER = """
import sys, time
from nebulastream.curation.lease import hold_lease
from nebulastream.lake.storage import LocalLake
with hold_lease(LocalLake(sys.argv[1]), owner="a test holder", wait_seconds=0):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder_process(root: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_transform_waits_then_names_the_holder_and_a_killed_holder_blocks_no_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    fixture_lake(root)
    monkeypatch.setenv("NEBULA_LAKE_URI", str(root))
    holder = _holder_process(root)
    try:
        blocked = CliRunner().invoke(cli, ["transform", "--wait", "0.5"])
        assert blocked.exit_code == 1
        [line] = blocked.output.strip().splitlines()
        assert "the lake is being curated by a test holder" in line
        assert f"pid {holder.pid}" in line
        assert "waited 1 s" in line or "waited 0 s" in line
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    # The kernel dropped the killed holder's lock: the next run needs no clean-up.
    after = CliRunner().invoke(cli, ["transform", "--wait", "0"])
    assert after.exit_code == 0, after.output
    assert "rows written 41" in after.output


@mock_aws
def test_on_s3_the_lease_is_one_conditional_object_taken_over_only_when_stale() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="lake")
    lake = S3Lake("lake", "nebula", client)
    with hold_lease(lake, owner="glue job run jr_1", wait_seconds=0) as held:
        stored = json.loads(lake.get(LEASE))
        assert stored["owner"] == "glue job run jr_1"
        assert stored["token"] == held.token
        with (
            pytest.raises(LeaseHeldError, match="glue job run jr_1"),
            hold_lease(lake, owner="second", wait_seconds=0.2),
        ):
            pass
    assert not lake.exists(LEASE)  # released

    now = datetime.now(UTC)

    def stale(**changes: Any) -> bytes:
        fields = {
            "owner": "a run that died",
            "host": "elsewhere",
            "pid": 1,
            "since": "2026-11-01T00:00:00.000Z",
            "expires": (now + timedelta(hours=1)).isoformat(),
            "token": "old",
        }
        return Holder(**{**fields, **changes}).to_json()  # type: ignore[arg-type]

    # Expired: taken over.
    lake.put(LEASE, stale(expires=(now - timedelta(seconds=1)).isoformat()), "application/json")
    with hold_lease(lake, owner="next run", wait_seconds=0):
        assert json.loads(lake.get(LEASE))["owner"] == "next run"
    # Held by a process of this host that is gone (a killed local run): taken over.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **_OUT)
    dead = stale(host=socket.gethostname(), pid=int(gone.stdout))
    lake.put(LEASE, dead, "application/json")
    with hold_lease(lake, owner="next run", wait_seconds=0):
        pass
    # Alive elsewhere and not expired: waited for, then refused.
    lake.put(LEASE, stale(), "application/json")
    with (
        pytest.raises(LeaseHeldError, match="a run that died"),
        hold_lease(lake, owner="next run", wait_seconds=0.2),
    ):
        pass
    assert json.loads(lake.get(LEASE))["token"] == "old"  # not released by the loser


_OUT: dict[str, Any] = {"capture_output": True, "text": True, "check": True}


@mock_aws
def test_conditional_writes_let_one_of_two_takers_win() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="lake")
    lake = S3Lake("lake", "", client)
    assert lake.put_if_absent("k", b"first", "text/plain")
    assert not lake.put_if_absent("k", b"second", "text/plain")
    current = lake.get_versioned("k")
    assert current is not None
    data, etag = current
    assert data == b"first"
    assert lake.put_if_match("k", b"taker one", "text/plain", etag)
    assert not lake.put_if_match("k", b"taker two", "text/plain", etag)  # read the same etag
    assert lake.get("k") == b"taker one"
    assert lake.get_versioned("missing") is None


# -- damage and crashes ---------------------------------------------------------------------


def test_a_damaged_day_is_served_from_raw_and_rebuilt_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    transform(lake, config=CONFIG, now=FIXTURE_NOW)
    healthy = api_answers(root)
    good = curated_rows(root)
    day = root / "curated/dt=2026-11-27/prices.parquet"
    day.write_bytes(b"PAR1garbage")
    leftover = root / "curated/dt=2026-11-26/.prices.parquet.k1ll3d.tmp"
    leftover.write_bytes(b"half a file")

    assert api_answers(root) == healthy  # 200s, the day's rows read from raw meanwhile

    monkeypatch.setenv("NEBULA_LAKE_URI", str(root))
    result = CliRunner().invoke(cli, ["transform"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 2
    assert "curated/dt=2026-11-27/prices.parquet: not a readable Parquet file" in warnings[1]
    assert ".prices.parquet.k1ll3d.tmp" in warnings[0]
    assert not leftover.exists()
    assert curated_rows(root) == good
    assert api_answers(root) == healthy
    [report_path] = [
        line.removeprefix("report: ") for line in result.stdout.splitlines() if "report:" in line
    ]
    report = json.loads(Path(report_path).read_text())
    assert [r["file"] for r in report["repaired"]] == ["curated/dt=2026-11-27/prices.parquet"]
    assert report["leftovers_removed"] == ["curated/dt=2026-11-26/.prices.parquet.k1ll3d.tmp"]
    assert report["partitions_written"] == ["2026-11-27"]


def test_a_crashed_first_run_hides_no_raw_day(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    fixture_lake(root)
    reference = tmp_path / "reference"
    transform(raw_copy(root, reference), config=CONFIG, now=FIXTURE_NOW)
    expected = api_answers(reference)

    class CrashAfterOneDay(CurationDuckDB):
        def write_days(self, lake: VersionedLake, sql: str) -> list[str]:
            table = self.con.sql(sql).to_arrow_table()
            first = table.filter(pc.equal(table["dt"], table["dt"][0]))
            from nebulastream.curation.duckdb_engine import write_days

            write_days(lake, first)
            raise RuntimeError("killed mid-write")

    lake = LocalLake(root)
    with pytest.raises(RuntimeError, match="killed"):
        curate(lake, CrashAfterOneDay(), config=CONFIG, now=FIXTURE_NOW)
    assert sorted(files_under(root, "curated")) == ["curated/dt=2026-11-26/prices.parquet"]
    # The older day is curated, the newer is not: the API still serves both in full.
    assert api_answers(root) == expected
    transform(lake, config=CONFIG, now=FIXTURE_NOW)  # the next run completes the work
    assert curated_rows(root) == curated_rows(reference)
