"""The small lake the API tests read: curated Parquet, raw batches and what they must yield."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_clock, get_engine
from nebulastream.query.base import QueryEngine
from nebulastream.settings import Settings, get_settings
from tests.lake_fixtures import Row, observation, utc, write_curated, write_spot

NOW = utc("2026-11-28T04:06:10Z")
SLOT = utc("2026-11-28T04:05:00Z")
FETCHED = utc("2026-11-28T04:05:01.234Z")

CURATED_ROWS = [
    Row("BTC", utc("2026-11-27T00:00:30Z"), 100.0, fetched_at=utc("2026-11-27T00:05:01Z")),
    Row("BTC", utc("2026-11-27T00:20:00Z"), 110.0),
    Row("BTC", utc("2026-11-27T00:40:00Z"), 90.0),
    Row("BTC", utc("2026-11-27T01:10:00Z"), 120.0),
    Row("BTC", utc("2026-11-27T03:59:59.999Z"), 130.0),
    Row("BTC", utc("2026-11-27T04:00:00Z"), 140.0, market_cap_usd=2.0e12),
    Row("BTC", utc("2026-11-27T23:59:00Z"), 150.0, market_cap_usd=None, volume_24h_usd=4.0e10),
    Row("ETH", utc("2026-11-27T12:00:00Z"), 3000.0),
    Row(
        "ETH",
        utc("2026-11-28T04:00:10Z"),
        3100.0,
        fetched_at=utc("2026-11-28T04:00:30Z"),
    ),
    Row("SOL", utc("2026-10-01T10:00:00Z"), 200.0, change_24h_pct=None),
]

# The last fetch, not yet curated: a new BTC price, ETH re-observed (same ts, fetched later:
# it wins the dedup) and two rows curation would reject.
RAW_SPOT = [
    observation(
        "BTC",
        utc("2026-11-28T04:03:12Z"),
        67187.3,
        fetched_at=FETCHED,
        slot=SLOT,
        market_cap=1.32e12,
        volume=3.1e10,
        change=-1.23,
    ),
    observation("ETH", utc("2026-11-28T04:00:10Z"), 3105.5, fetched_at=FETCHED, slot=SLOT),
    observation("SOL", None, 210.0, fetched_at=FETCHED, slot=SLOT),
    observation("DOGE", utc("2026-11-28T04:03:00Z"), None, fetched_at=FETCHED, slot=SLOT),
]


def build_lake(root: Path) -> Path:
    write_curated(root, CURATED_ROWS)
    write_spot(root, SLOT, RAW_SPOT)
    return root


def settings_for(root: Path, **overrides: object) -> Settings:
    return Settings(lake_uri=str(root), **overrides)  # type: ignore[arg-type]


@contextmanager
def client_for(engine: QueryEngine, settings: Settings, now: object = NOW) -> Iterator[TestClient]:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[get_clock] = lambda: now
    with TestClient(app) as client:
        yield client
