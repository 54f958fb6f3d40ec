"""Builders for the edges (CLI, Lambda handlers, API dependencies): settings in, parts out.

Core modules take these parts as arguments; only edges call the functions here. Each builder
imports what it builds when called: the API function imports this module for its engine and
should not pay, at every cold start, for the HTTP client and retry stack of the sources or
for curation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nebulastream.lake.storage import LakeStorage, open_lake
from nebulastream.settings import Settings

if TYPE_CHECKING:
    from nebulastream.curation.definition import CurationConfig
    from nebulastream.query.base import QueryEngine
    from nebulastream.sources.coingecko import CoinGecko


def make_lake(settings: Settings, s3_client: Any | None = None) -> LakeStorage:
    """The configured lake; an S3 lake gets `s3_client`, or a default boto3 client."""
    if settings.lake_uri.startswith("s3://") and s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    return open_lake(settings.lake_uri, s3_client=s3_client, kms_key_id=settings.kms_key_id)


def make_coingecko(settings: Settings, coins: list[str] | None = None, **kwargs: Any) -> CoinGecko:
    """CoinGecko for the configured (or the given) coins, with the configured key and deadline."""
    from nebulastream.coins import resolve
    from nebulastream.sources.coingecko import CoinGecko, build_client

    symbols = coins or settings.coins
    ids = resolve(symbols, settings.known_coin_ids)
    client = build_client(settings.coingecko_base_url, settings.coingecko_api_key)
    kwargs.setdefault("deadline", settings.fetch_deadline_seconds)
    return CoinGecko(client, ids, has_key=bool(settings.coingecko_api_key), **kwargs)


def make_engine(settings: Settings) -> QueryEngine:
    """The configured query engine, imported lazily: the Athena Lambda ships no DuckDB."""
    if settings.engine == "athena":
        from nebulastream.lake.bound import CachedRawBound
        from nebulastream.query.athena import AthenaEngine

        # How far raw/ is curated: one small GET per fetch interval bounds every query's raw side.
        bound = CachedRawBound(make_lake(settings), ttl_seconds=settings.fetch_interval_seconds)
        return AthenaEngine.connect(settings, raw_bound=bound)
    if settings.lake_uri.startswith("s3://"):
        raise ValueError(
            f"NEBULA_ENGINE=duckdb reads a local lake folder, not {settings.lake_uri}: "
            "set NEBULA_ENGINE=athena for an S3 lake, or NEBULA_LAKE_URI to a folder."
        )
    from nebulastream.query.duckdb import DuckDBEngine

    return DuckDBEngine(settings.lake_uri)


def make_curation_config(settings: Settings) -> CurationConfig:
    """The rules' knobs from settings: the spike factor, and the fetch grid for gap reports."""
    from nebulastream.curation.definition import CurationConfig

    return CurationConfig(
        spike_factor=settings.spike_factor, slot_seconds=settings.fetch_interval_seconds
    )
