"""Builders for the edges (CLI, Lambda handlers, API dependencies): settings in, parts out.

Core modules take these parts as arguments; only edges call the functions here. The query
engines and curation are imported when built: the API function imports this module for its
engine and should not pay for DuckDB or curation at every cold start.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from nebulastream.coins import resolve
from nebulastream.lake.storage import LakeStorage, open_lake
from nebulastream.models import Observation
from nebulastream.query.base import QueryEngine
from nebulastream.settings import ConfigurationError, Settings, clean_api_key
from nebulastream.sources.base import HistorySource, SourceError, SpotSource

if TYPE_CHECKING:
    # Names for annotations only. The registry and its source modules (httpx, tenacity) load
    # in the functions that build sources: the API function imports this module, never them.
    from nebulastream.curation.definition import CurationConfig
    from nebulastream.sources import registry
    from nebulastream.sources.coingecko import CoinGecko


def make_lake(settings: Settings, s3_client: Any | None = None) -> LakeStorage:
    """The configured lake; an S3 lake gets `s3_client`, or a default boto3 client."""
    if settings.lake_uri.startswith("s3://") and s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    return open_lake(settings.lake_uri, s3_client=s3_client, kms_key_id=settings.kms_key_id)


# A key read from SSM is kept for the container this long (Powertools' cache), so a warm
# fetch Lambda makes no SSM call, and a rotated key is picked up within the hour.
KEY_CACHE_SECONDS = 3600


def coingecko_api_key(settings: Settings) -> str | None:
    """The CoinGecko key: from the SSM SecureString NEBULA_COINGECKO_API_KEY_PARAMETER names
    (decrypted by SSM, cached for the container), else NEBULA_COINGECKO_API_KEY, else None."""
    name = settings.coingecko_api_key_parameter
    if not name:
        return settings.coingecko_api_key
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_parameter(name, decrypt=True, max_age=KEY_CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as error:
        raise SourceError(
            f"could not read the CoinGecko key from SSM parameter {name} ({error}); check that "
            "it exists as a SecureString and the fetch role may read and decrypt it."
        ) from error
    try:
        return clean_api_key(value)
    except ValueError as error:
        raise SourceError(f"SSM parameter {name}: the key {error}") from None


def _api_key(settings: Settings, name: str) -> str | None:
    """A source's key: CoinGecko's may come from SSM; others from NEBULA_<NAME>_API_KEY."""
    if name == "coingecko":
        return coingecko_api_key(settings)
    value = getattr(settings, f"{name}_api_key", None)
    return value if isinstance(value, str) else None


def source_options(
    settings: Settings,
    name: str,
    coins: list[str] | None = None,
    api_key: str | None = None,
    **kwargs: Any,
) -> registry.SourceOptions:
    """How the registry source `name` is built from settings: NEBULA_<NAME>_BASE_URL, its key
    (`api_key` when the edge already read it), the CoinGecko ids of the configured (or given)
    coins."""
    from nebulastream.sources import registry

    spec = registry.spec(name)
    kwargs.setdefault("deadline", settings.fetch_deadline_seconds)
    return registry.SourceOptions(
        base_url=settings.source_base_url(spec.name),
        coin_ids=resolve(coins or settings.coins, settings.known_coin_ids),
        api_key=api_key if api_key is not None else _api_key(settings, spec.name),
        **kwargs,
    )


def make_spot_source(settings: Settings, **kwargs: Any) -> SpotSource:
    """The scheduled fetch's source: the first in NEBULA_SOURCE_PRIORITY serving spot prices."""
    from nebulastream.sources import registry

    spec = registry.default_spot(settings.source_priority)
    source: SpotSource = spec.build(source_options(settings, spec.name, **kwargs))
    return source


def make_history_source(
    settings: Settings, name: str, coins: list[str] | None = None, **kwargs: Any
) -> HistorySource:
    """The registry source `name` for backfill, for the configured (or the given) coins."""
    from nebulastream.sources import registry

    source: HistorySource = registry.build(name, source_options(settings, name, coins, **kwargs))
    return source


def make_coingecko(settings: Settings, coins: list[str] | None = None, **kwargs: Any) -> CoinGecko:
    """CoinGecko for the configured (or the given) coins, with the configured key and deadline."""
    from nebulastream.sources import registry

    source: CoinGecko = registry.build(
        "coingecko", source_options(settings, "coingecko", coins, **kwargs)
    )
    return source


class CurrentSpotSource:
    """The fetch's spot source with the key in force, for a long-lived edge (the fetch
    Lambda's container): the key is looked up on each call (cached by coingecko_api_key) and
    the source rebuilt only when the key changed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._built: tuple[str | None, SpotSource] | None = None

    def __call__(self) -> SpotSource:
        from nebulastream.sources import registry

        spec = registry.default_spot(self.settings.source_priority)
        key = _api_key(self.settings, spec.name)
        if self._built is None or self._built[0] != key:
            client = getattr(self._built[1], "client", None) if self._built else None
            if client is not None:
                client.close()
            self._built = (key, make_spot_source(self.settings, api_key=key))
        return self._built[1]


def make_engine(settings: Settings) -> QueryEngine:
    """The configured query engine, imported lazily: the Athena Lambda ships no DuckDB."""
    if settings.engine == "athena":
        from nebulastream.lake.bound import CachedRawBound
        from nebulastream.query.athena import AthenaEngine

        # How far raw/ is curated: one small GET per fetch interval bounds every query's raw side.
        bound = CachedRawBound(make_lake(settings), ttl_seconds=settings.fetch_interval_seconds)
        return AthenaEngine.connect(settings, raw_bound=bound)
    if settings.lake_uri.startswith("s3://"):
        raise ConfigurationError(
            f"NEBULA_ENGINE=duckdb reads a local lake folder, not {settings.lake_uri}: "
            "set NEBULA_ENGINE=athena for an S3 lake, or NEBULA_LAKE_URI to a folder."
        )
    from nebulastream.query.duckdb import DuckDBEngine

    return DuckDBEngine(settings.lake_uri)


def make_curation_config(settings: Settings) -> CurationConfig:
    """The rules' knobs from settings: the spike factor, the cross-source deviation, and the
    fetch grid for gap reports."""
    from nebulastream.curation.definition import CurationConfig

    return CurationConfig(
        spike_factor=settings.spike_factor,
        deviation_pct=settings.source_deviation_pct,
        slot_seconds=settings.fetch_interval_seconds,
    )


class SourcePool:
    """The registry's sources for `nebula heal` and the heal function, each built on first use
    from settings (for every known coin) and closed together: `fetch` is heal.Fetch."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.settings = settings
        self.kwargs = kwargs
        self._built: dict[str, HistorySource] = {}

    def _options(self, name: str) -> registry.SourceOptions:
        coins = list(self.settings.known_coin_ids)
        return source_options(self.settings, name, coins, **self.kwargs)

    def listed(self, name: str) -> list[str]:
        """The symbols source `name` lists (no request is made)."""
        from nebulastream.sources import registry

        return list(registry.spec(name).symbols(self._options(name)))

    def fetch(
        self, name: str, coin: str, start: datetime, end: datetime, fetched_at: datetime
    ) -> list[Observation]:
        source = self._built.get(name)
        if source is None:
            from nebulastream.sources import registry

            source = self._built[name] = registry.build(name, self._options(name))
        return source.history(coin, start, end, fetched_at=fetched_at)

    def close(self) -> None:
        for source in self._built.values():
            source.client.close()
        self._built.clear()
