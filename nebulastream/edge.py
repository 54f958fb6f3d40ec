"""Builders for the edges (CLI, Lambda handlers, API dependencies): settings in, parts out.

Core modules take these parts as arguments; only edges call the functions here.
"""

from __future__ import annotations

from typing import Any

from nebulastream.coins import resolve
from nebulastream.curation.definition import CurationConfig
from nebulastream.lake.storage import LakeStorage, open_lake
from nebulastream.query.base import QueryEngine
from nebulastream.settings import Settings
from nebulastream.sources import registry
from nebulastream.sources.base import HistorySource, SpotSource
from nebulastream.sources.coingecko import CoinGecko


def make_lake(settings: Settings, s3_client: Any | None = None) -> LakeStorage:
    """The configured lake; an S3 lake gets `s3_client`, or a default boto3 client."""
    if settings.lake_uri.startswith("s3://") and s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    return open_lake(settings.lake_uri, s3_client=s3_client, kms_key_id=settings.kms_key_id)


def source_options(
    settings: Settings, name: str, coins: list[str] | None = None, **kwargs: Any
) -> registry.SourceOptions:
    """How the registry source `name` is built from settings: NEBULA_<NAME>_BASE_URL, the
    optional NEBULA_<NAME>_API_KEY, the CoinGecko ids of the configured (or given) coins."""
    spec = registry.spec(name)
    kwargs.setdefault("deadline", settings.fetch_deadline_seconds)
    return registry.SourceOptions(
        base_url=settings.source_base_url(spec.name),
        coin_ids=resolve(coins or settings.coins, settings.known_coin_ids),
        api_key=getattr(settings, f"{spec.name}_api_key", None),
        **kwargs,
    )


def make_spot_source(settings: Settings, **kwargs: Any) -> SpotSource:
    """The scheduled fetch's source: the first in NEBULA_SOURCE_PRIORITY serving spot prices."""
    spec = registry.default_spot(settings.source_priority)
    source: SpotSource = spec.build(source_options(settings, spec.name, **kwargs))
    return source


def make_history_source(
    settings: Settings, name: str, coins: list[str] | None = None, **kwargs: Any
) -> HistorySource:
    """The registry source `name` for backfill, for the configured (or the given) coins."""
    source: HistorySource = registry.build(name, source_options(settings, name, coins, **kwargs))
    return source


def make_coingecko(settings: Settings, coins: list[str] | None = None, **kwargs: Any) -> CoinGecko:
    """CoinGecko for the configured (or the given) coins, with the configured key and deadline."""
    source: CoinGecko = registry.build(
        "coingecko", source_options(settings, "coingecko", coins, **kwargs)
    )
    return source


def make_engine(settings: Settings) -> QueryEngine:
    """The configured query engine, imported lazily: the Athena Lambda ships no DuckDB."""
    if settings.engine == "athena":
        from nebulastream.query.athena import AthenaEngine

        return AthenaEngine.connect(settings)
    if settings.lake_uri.startswith("s3://"):
        raise ValueError(
            f"NEBULA_ENGINE=duckdb reads a local lake folder, not {settings.lake_uri}: "
            "set NEBULA_ENGINE=athena for an S3 lake, or NEBULA_LAKE_URI to a folder."
        )
    from nebulastream.query.duckdb import DuckDBEngine

    return DuckDBEngine(settings.lake_uri)


def make_curation_config(settings: Settings) -> CurationConfig:
    """The rules' knobs from settings: the spike factor, the cross-source deviation, and the
    fetch grid for gap reports."""
    return CurationConfig(
        spike_factor=settings.spike_factor,
        deviation_pct=settings.source_deviation_pct,
        slot_seconds=settings.fetch_interval_seconds,
    )
