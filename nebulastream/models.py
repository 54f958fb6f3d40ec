"""The raw observation: one coin's price (a point or a candle) from one source, one JSON line."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nebulastream.timeutil import iso_z


@dataclass(frozen=True, slots=True)
class Observation:
    """One coin at one instant from one source.

    The normalised fields are what curation and queries read; `source_payload` is the
    source's own values for this coin, verbatim as JSON text, so the raw zone stays the
    record of what the source said even when a normalised field could not be filled.
    """

    coin: str
    source: str
    price_usd: float | None
    market_cap_usd: float | None
    volume_24h_usd: float | None
    change_24h_pct: float | None
    observed_at: datetime | None
    fetched_at: datetime
    slot: datetime
    source_payload: str
    # Candles (exchange OHLC): the bucket's open, high and low beside price_usd = its close,
    # the bucket's length and the USD traded in it. A point observation has span 0 and nulls.
    open_usd: float | None = None
    high_usd: float | None = None
    low_usd: float | None = None
    span_seconds: int = 0
    volume_usd: float | None = None

    def problems(self) -> list[str]:
        """Why this observation would fail curation; empty when it looks usable."""
        found = []
        if self.price_usd is None:
            found.append("price is missing or null")
        elif not math.isfinite(self.price_usd):
            found.append(f"price is not finite ({self.source_payload})")
        elif self.price_usd <= 0:
            found.append(f"price is not positive ({self.price_usd!r})")
        if self.observed_at is None:
            found.append("timestamp is missing")
        if self.span_seconds:
            found.extend(self._candle_problems())
        return found

    def _candle_problems(self) -> list[str]:
        """What curation's candle_consistent rule would reject: low <= open, close <= high, > 0."""
        values = {"open": self.open_usd, "high": self.high_usd, "low": self.low_usd}
        bad = [name for name, v in values.items() if v is None or not math.isfinite(v)]
        if bad:
            return [f"candle {', '.join(bad)} missing or not finite ({self.source_payload})"]
        assert self.open_usd is not None and self.high_usd is not None
        assert self.low_usd is not None
        if min(self.open_usd, self.high_usd, self.low_usd) <= 0:
            return [f"candle has a value that is not positive ({self.source_payload})"]
        close = self.price_usd if self.price_usd is not None else self.open_usd
        if (
            not self.low_usd
            <= min(self.open_usd, close)
            <= max(self.open_usd, close)
            <= (self.high_usd)
        ):
            return [
                f"candle is inconsistent: low > open/close or high < open/close "
                f"({self.source_payload})"
            ]
        return []

    def to_json_line(self) -> str:
        """One compact JSON object; non-finite numbers become null (they stay in the payload)."""
        row: dict[str, Any] = {
            "coin": self.coin,
            "source": self.source,
            "price_usd": _finite(self.price_usd),
            "market_cap_usd": _finite(self.market_cap_usd),
            "volume_24h_usd": _finite(self.volume_24h_usd),
            "change_24h_pct": _finite(self.change_24h_pct),
            "observed_at": iso_z(self.observed_at) if self.observed_at else None,
            "fetched_at": iso_z(self.fetched_at),
            "slot": iso_z(self.slot),
            "source_payload": self.source_payload,
            "open_usd": _finite(self.open_usd),
            "high_usd": _finite(self.high_usd),
            "low_usd": _finite(self.low_usd),
            "span_seconds": self.span_seconds,
            "volume_usd": _finite(self.volume_usd),
        }
        return json.dumps(row, separators=(",", ":"), allow_nan=False)


# The raw line's columns in order, for table definitions (Glue catalog, DuckDB read_json).
RAW_COLUMNS: dict[str, str] = {
    "coin": "string",
    "source": "string",
    "price_usd": "double",
    "market_cap_usd": "double",
    "volume_24h_usd": "double",
    "change_24h_pct": "double",
    "observed_at": "string",
    "fetched_at": "string",
    "slot": "string",
    "source_payload": "string",
    # Candle fields (null / 0 for point observations). span_seconds is a whole number in the
    # line; it is typed double like the other numbers so every reader (pyarrow, Spark, DuckDB,
    # the Glue table) takes it without a new type.
    "open_usd": "double",
    "high_usd": "double",
    "low_usd": "double",
    "span_seconds": "double",
    "volume_usd": "double",
}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def encode_batch(observations: list[Observation]) -> bytes:
    """A JSON Lines batch: one observation a line, newline-terminated."""
    return "".join(o.to_json_line() + "\n" for o in observations).encode()
