from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from nebulastream.ingest import NothingStoredError, backfill, fetch_spot, plan_backfill
from nebulastream.lake.layout import spot_key
from nebulastream.lake.storage import LocalLake
from nebulastream.models import Observation
from nebulastream.sources.base import SourceError
from nebulastream.sources.coingecko import CoinGecko, build_client
from tests.conftest import fixture_text

SLOT = datetime(2026, 11, 28, 4, 5, tzinfo=UTC)
NOW = datetime(2026, 11, 28, 4, 5, 1, 234000, tzinfo=UTC)
IDS = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}


def source_answering(*bodies: str) -> CoinGecko:
    answers = iter(bodies)

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=next(answers), headers={"Content-Type": "application/json"})

    client = build_client("https://cg.test/api/v3", transport=httpx.MockTransport(handle))
    return CoinGecko(client, IDS, sleep=lambda _: None)


def lake_files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_fetch_writes_one_json_lines_batch_at_the_slot_key(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    result = fetch_spot(
        source_answering(fixture_text("coingecko/simple_price.json")), lake, slot=SLOT, now=NOW
    )

    assert result.key == "raw/dt=2026-11-28/coingecko-spot-20261128T0405Z.jsonl"
    text = (tmp_path / result.key).read_text()
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 3
    first = json.loads(lines[0])
    assert first == {
        "coin": "BTC",
        "source": "coingecko",
        "price_usd": 91234.56789012345,
        "market_cap_usd": 1806544263411.2375,
        "volume_24h_usd": 48231290017.48763,
        "change_24h_pct": -1.2334512987,
        "observed_at": "2026-11-28T04:03:12.000Z",
        "fetched_at": "2026-11-28T04:05:01.234Z",
        "slot": "2026-11-28T04:05:00.000Z",
        "source_payload": json.dumps(
            json.loads(fixture_text("coingecko/simple_price.json"))["bitcoin"],
            separators=(",", ":"),
        ),
        # A point observation carries the candle fields as nulls and a zero span.
        "open_usd": None,
        "high_usd": None,
        "low_usd": None,
        "span_seconds": 0,
        "volume_usd": None,
    }
    assert " " not in lines[0].replace('"source_payload"', "")  # compact, one object per line


def test_the_same_slot_twice_leaves_one_batch_with_the_newer_values(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    first = fixture_text("coingecko/simple_price.json")
    second = first.replace("91234.56789012345", "91300.5")
    source = source_answering(first, second)
    fetch_spot(source, lake, slot=SLOT, now=NOW)
    fetch_spot(source, lake, slot=SLOT, now=NOW + timedelta(seconds=30))

    files = lake_files(tmp_path)
    assert list(files) == [spot_key("coingecko", SLOT)]
    assert json.loads(files[spot_key("coingecko", SLOT)].splitlines()[0])["price_usd"] == 91300.5


def test_a_failed_fetch_changes_nothing_in_the_lake(tmp_path: Path) -> None:
    def truncated(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, text='{"bitcoin": {"usd": 9', headers={"Content-Type": "application/json"}
        )

    source = CoinGecko(
        build_client("https://cg.test", transport=httpx.MockTransport(truncated)),
        IDS,
        sleep=lambda _: None,
    )
    with pytest.raises(SourceError):
        fetch_spot(source, LocalLake(tmp_path), slot=SLOT, now=NOW)
    assert lake_files(tmp_path) == {}


def test_an_answer_without_any_configured_coin_stores_nothing_and_raises(tmp_path: Path) -> None:
    with pytest.raises(NothingStoredError, match="NEBULA_COINS"):
        fetch_spot(source_answering("{}"), LocalLake(tmp_path), slot=SLOT, now=NOW)
    assert lake_files(tmp_path) == {}


class RecordedHistory:
    """A history source replaying a 5-minute grid and counting calls; can fail on one call."""

    name = "coingecko"

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls: list[tuple[str, datetime, datetime]] = []
        self.fail_on_call = fail_on_call

    def history(
        self, symbol: str, start: datetime, end: datetime, *, fetched_at: datetime
    ) -> list[Observation]:
        self.calls.append((symbol, start, end))
        if self.fail_on_call == len(self.calls):
            raise SourceError("CoinGecko failed after 5 attempt(s)")
        points, t = [], start
        while t < end:
            points.append(
                Observation(
                    symbol,
                    "coingecko",
                    100.0 + t.timestamp() % 1000,
                    None,
                    None,
                    None,
                    t,
                    fetched_at,
                    start,
                    "{}",
                )
            )
            t += timedelta(minutes=5)
        return points


def test_backfill_plans_one_window_per_coin_and_utc_day() -> None:
    windows = plan_backfill(
        "coingecko",
        ["BTC", "ETH"],
        datetime(2026, 11, 25, 12, tzinfo=UTC),
        datetime(2026, 11, 27, tzinfo=UTC),
    )
    assert [(w.coin, w.start.isoformat(), w.end.isoformat()) for w in windows] == [
        ("BTC", "2026-11-25T12:00:00+00:00", "2026-11-26T00:00:00+00:00"),
        ("BTC", "2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+00:00"),
        ("ETH", "2026-11-25T12:00:00+00:00", "2026-11-26T00:00:00+00:00"),
        ("ETH", "2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+00:00"),
    ]
    assert (
        windows[1].key
        == "raw/dt=2026-11-26/coingecko-history-BTC-20261126T0000Z-20261127T0000Z.jsonl"
    )


def test_backfill_stores_every_point_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    windows = plan_backfill(
        "coingecko", ["BTC"], datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)
    )
    source = RecordedHistory()

    first = backfill(source, lake, windows, now=lambda: NOW)
    snapshot = lake_files(tmp_path)
    second = backfill(source, lake, windows, now=lambda: NOW)

    assert first.points == 288
    assert len(snapshot[windows[0].key].splitlines()) == 288
    assert second.points == 0 and second.skipped == [windows[0].key]
    assert len(source.calls) == 1
    assert lake_files(tmp_path) == snapshot


def test_an_interrupted_backfill_resumes_without_refetching_done_windows(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    windows = plan_backfill(
        "coingecko",
        ["BTC", "ETH"],
        datetime(2026, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 27, tzinfo=UTC),
    )
    with pytest.raises(SourceError):
        backfill(RecordedHistory(fail_on_call=3), lake, windows, now=lambda: NOW)
    assert len(lake_files(tmp_path)) == 2

    resumed = RecordedHistory()
    result = backfill(resumed, lake, windows, now=lambda: NOW)

    assert [c[0] for c in resumed.calls] == ["ETH", "ETH"]
    assert len(result.skipped) == 2
    assert len(lake_files(tmp_path)) == 4


def test_a_window_reaching_past_now_is_fetched_again(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    windows = plan_backfill(
        "coingecko", ["BTC"], datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC)
    )
    source = RecordedHistory()
    backfill(source, lake, windows, now=lambda: NOW)
    backfill(source, lake, windows, now=lambda: NOW)
    assert len(source.calls) == 2
    assert len(lake_files(tmp_path)) == 1


def test_a_day_stored_while_it_was_running_is_fetched_again_once_it_has_ended(
    tmp_path: Path,
) -> None:
    lake = LocalLake(tmp_path)
    windows = plan_backfill(
        "coingecko", ["BTC"], datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC)
    )
    source = RecordedHistory()
    backfill(source, lake, windows, now=lambda: NOW)  # at 04:05 the day is still running
    tomorrow = datetime(2026, 11, 29, 1, tzinfo=UTC)
    again = backfill(source, lake, windows, now=lambda: tomorrow)
    third = backfill(source, lake, windows, now=lambda: tomorrow)

    assert len(source.calls) == 2  # refetched once the day ended, then skipped
    assert again.points == 288 and third.skipped == [windows[0].key]


def test_a_refetch_in_the_same_slot_keeps_coins_its_answer_left_out(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    full = fixture_text("coingecko/simple_price.json")
    without_sol = json.dumps({k: v for k, v in json.loads(full).items() if k != "solana"})
    source = source_answering(full, without_sol.replace("91234.56789012345", "91300.5"))
    fetch_spot(source, lake, slot=SLOT, now=NOW)
    second = fetch_spot(source, lake, slot=SLOT, now=NOW + timedelta(seconds=30))

    rows = [json.loads(line) for line in lake.get(second.key).splitlines()]
    assert [(r["coin"], r["price_usd"]) for r in rows][:2] == [
        ("BTC", 91300.5),
        ("ETH", json.loads(full)["ethereum"]["usd"]),
    ]
    assert [r["coin"] for r in rows] == ["BTC", "ETH", "SOL"]
    assert rows[2]["fetched_at"] == "2026-11-28T04:05:01.234Z"  # SOL from the first fetch
    assert second.missing == ["SOL"] and second.kept == ["SOL"]


def test_candle_windows_get_their_own_deterministic_keys_beside_history_ones() -> None:
    day, next_day = datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)
    [candles] = plan_backfill("coinbase", ["BTC"], day, next_day, kind="candles")
    [points] = plan_backfill("coingecko", ["BTC"], day, next_day)
    assert (
        candles.key == "raw/dt=2026-11-26/coinbase-candles-BTC-20261126T0000Z-20261127T0000Z.jsonl"
    )
    assert (
        points.key == "raw/dt=2026-11-26/coingecko-history-BTC-20261126T0000Z-20261127T0000Z.jsonl"
    )
    assert plan_backfill("coinbase", ["BTC"], day, next_day, kind="candles") == [candles]
    with pytest.raises(ValueError, match="window kind"):
        plan_backfill("coinbase", ["BTC"], day, next_day, kind="ohlc")
