"""The raw observation: one coin's price as one source reported it, one JSON Lines row."""

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
        return found

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
}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def encode_batch(observations: list[Observation]) -> bytes:
    """A JSON Lines batch: one observation a line, newline-terminated."""
    return "".join(o.to_json_line() + "\n" for o in observations).encode()
