"""Settings: one pydantic-settings class read from NEBULA_* environment variables."""

from __future__ import annotations

import json
from functools import lru_cache
from types import ModuleType
from typing import Annotated, Literal

from pydantic import Field, SecretStr, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nebulastream.coins import default_coin_ids, parse_symbols, resolve


def _registry() -> ModuleType:
    # The registry imports every source module and so httpx and tenacity: loaded when
    # settings are built, not when the API function's code is imported.
    from nebulastream.sources import registry

    return registry


class ConfigurationError(ValueError):
    """The settings cannot work together (or at all); the message says which to change."""


class Settings(BaseSettings):
    """Every knob of NebulaStream. Names are a contract (docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="NEBULA_", extra="ignore", frozen=True)

    lake_uri: str = Field("./.nebula", description="A local folder or s3://bucket[/prefix].")
    engine: Literal["duckdb", "athena"] = "duckdb"
    coins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["BTC", "ETH", "SOL"])
    coin_ids: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Extra or overriding symbol -> CoinGecko id, JSON: {"PEPE": "pepe"}.',
    )
    coingecko_base_url: str = Field(
        default_factory=lambda: _registry().spec("coingecko").default_base_url
    )
    coingecko_api_key: str | None = None
    # Exchange APIs for 5-minute candles (keyless); any compatible http(s) server works.
    # Unset means the source module's own default (registry.SourceSpec.default_base_url).
    coinbase_base_url: str | None = None
    bitstamp_base_url: str | None = None
    # Registry names, first wins: which source serves a slot under source=best, and the
    # order the defaults are picked in (the fetch: first with spot prices; backfill: first
    # with past 5-minute data). Default: registry order, coingecko,coinbase,bitstamp.
    source_priority: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(_registry().REGISTRY)
    )
    # On AWS: the NAME of an SSM SecureString parameter holding the key, read at run time by
    # the fetch Lambda (nebulastream.edge.coingecko_api_key); the key never sits in its
    # environment. Wins over coingecko_api_key when both are set.
    coingecko_api_key_parameter: str | None = None
    # Seconds between scheduled fetches; the slot grid of the raw zone.
    fetch_interval_seconds: int = Field(300, ge=60, le=3600)
    # Total time one fetch may spend retrying: well within the fetch Lambda's 60 s timeout.
    fetch_deadline_seconds: float = Field(40.0, gt=0, le=300)
    # Optional KMS key for objects written to S3; unset means the bucket's default encryption.
    kms_key_id: str | None = None
    # Athena (NEBULA_ENGINE=athena): the workgroup (it holds the result location and
    # encryption) and the Glue database holding the curated and raw tables.
    athena_workgroup: str = "primary"
    glue_database: str = "nebula"
    curated_table: str = "prices"
    raw_table: str = "raw_prices"
    # Queries read raw partitions of this many most recent UTC days (plus today) alongside
    # curated ones, so a fetch is visible before curation; older raw is expected to be curated.
    raw_lookback_days: int = Field(2, ge=0, le=31)
    # Curation: a price more than this factor above or below its neighbours is flagged as a
    # spike in the run report (kept in curated, not dropped).
    spike_factor: float = Field(1.5, gt=1.0)
    # Curation: two sources' prices of one coin and 5-minute slot further apart than this
    # percentage (of the lower) are flagged in the run report (both kept).
    source_deviation_pct: float = Field(2.0, gt=0, le=100)
    # `nebula run`: seconds between local curation runs (the Glue job's schedule in AWS).
    transform_interval_seconds: int = Field(3600, ge=300, le=86400)
    # `nebula run` heals missing slots this often (after a curation run); on AWS the heal
    # function's schedule is hourly. /health says `degraded` when a gap of the last 24 h is
    # older than this (docs/heal.md).
    heal_interval_seconds: int = Field(3600, ge=300, le=86400)
    # Alerts (docs/alerts.md): the rules file (a path or s3:// URI; unset: alerts.yml beside
    # a local lake folder, or alerts.yml at the root of an S3 lake) and the channels.
    alerts_file: str | None = None
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    # On AWS: the NAME of an SSM SecureString holding the webhook secret, read at run time.
    alert_webhook_secret_parameter: str | None = None
    alert_topic_arn: str | None = None

    @field_validator("coins", mode="before")
    @classmethod
    def _split_coins(cls, value: object) -> object:
        if isinstance(value, str | list):
            return parse_symbols(value)
        return value

    @field_validator("coin_ids", mode="before")
    @classmethod
    def _parse_coin_ids(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return {}
        try:
            return json.loads(value)
        except ValueError as error:
            raise ValueError(
                f'is not JSON ({error}); write it as {{"PEPE": "pepe", "ADA": "cardano"}}.'
            ) from None

    @field_validator("coingecko_api_key", mode="after")
    @classmethod
    def _key_is_one_token(cls, value: str | None) -> str | None:
        return clean_api_key(value)

    @field_validator("coin_ids", mode="after")
    @classmethod
    def _upper_symbols(cls, value: dict[str, str]) -> dict[str, str]:
        return {k.strip().upper(): v.strip() for k, v in value.items()}

    @field_validator("fetch_interval_seconds", mode="after")
    @classmethod
    def _slots_tile_a_day(cls, value: int) -> int:
        # Curation groups slots into UTC days, so a day must hold a whole number of slots.
        if 86400 % value:
            raise ValueError(
                f"{value} s does not divide a day into whole slots: use a divisor of 86400 "
                "such as 60, 120, 300, 600, 900, 1200, 1800 or 3600."
            )
        return value

    @field_validator("coingecko_base_url", "coinbase_base_url", "bitstamp_base_url", mode="after")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.split("/")[0]:
            raise ValueError(
                f"{value!r} is not an http(s) URL; use e.g. https://api.coingecko.com/api/v3."
            )
        return value

    @field_validator("source_priority", mode="before")
    @classmethod
    def _split_priority(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            names = [str(v).strip().lower() for v in value if str(v).strip()]
            registry = _registry()
            for name in names:
                registry.spec(name)  # UnknownSourceError (a ValueError) names the known ones
            if not names:
                raise ValueError(
                    f"is empty; name sources in order, e.g. {','.join(registry.REGISTRY)}."
                )
            return list(dict.fromkeys(names))
        return value

    @field_validator(
        "alerts_file",
        "alert_webhook_url",
        "alert_webhook_secret_parameter",
        "alert_topic_arn",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # The stack passes empty parameters as empty strings: the same as not set.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("alert_webhook_url", mode="after")
    @classmethod
    def _webhook_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.split("/")[0]:
            raise ValueError("is not an http(s) URL; use e.g. https://hooks.example.com/nebula.")
        return value

    @model_validator(mode="after")
    def _coins_are_known(self) -> Settings:
        if not self.coins:
            raise ValueError("NEBULA_COINS is empty: name at least one symbol, e.g. BTC,ETH,SOL.")
        resolve(self.coins, self.known_coin_ids)
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def known_coin_ids(self) -> dict[str, str]:
        return {**default_coin_ids(), **self.coin_ids}

    @property
    def ranked_sources(self) -> tuple[str, ...]:
        """Every registry source, NEBULA_SOURCE_PRIORITY's first, then the rest in registry
        order: the rank `source=best` picks a slot's source by."""
        return tuple(dict.fromkeys([*self.source_priority, *_registry().REGISTRY]))

    def source_base_url(self, name: str) -> str:
        """The configured API root of a registry source: NEBULA_<NAME>_BASE_URL."""
        spec = _registry().spec(name)
        value = getattr(self, f"{spec.name}_base_url", None)
        return value if isinstance(value, str) else spec.default_base_url

    @property
    def coin_map(self) -> dict[str, str]:
        """The configured coins, symbol -> CoinGecko id, in configured order."""
        return resolve(self.coins, self.known_coin_ids)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def clean_api_key(value: str | None) -> str | None:
    """A key as typed or stored, trimmed; None when blank; refused when it is not one token.

    The key travels in an HTTP header: a stray newline or non-ASCII character (a paste from a
    web page) would fail every request with a confusing transport error.
    """
    value = (value or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        raise ValueError(
            "holds spaces, control or non-ASCII characters; paste the key alone "
            "(the value itself is not shown here)."
        )
    return value
