"""The curated table's schema: one definition for curation, queries and the catalog."""

from __future__ import annotations

# Curated Parquet columns (Glue/Athena type names). `ts` and `fetched_at` are UTC instants
# stored as Parquet TIMESTAMP(MICROS) *not* adjusted to UTC (naive, holding UTC), so DuckDB
# reads them as TIMESTAMP (bucketing a TIMESTAMPTZ is 5-7x slower) and Athena as timestamp.
CURATED_COLUMNS: dict[str, str] = {
    "coin": "string",
    "ts": "timestamp",
    "price_usd": "double",
    "market_cap_usd": "double",
    "volume_24h_usd": "double",
    "change_24h_pct": "double",
    "source": "string",
    "fetched_at": "timestamp",
    # The raw batch the row was curated from (its key under raw/): re-curating a batch
    # replaces every row it produced, and queries let a newer raw batch replace its rows.
    "raw_key": "string",
}

# The one partition key of curated/ and raw/: `dt=YYYY-MM-DD` (UTC day), typed as a string
# everywhere (Glue catalog, Athena projection, DuckDB hive_types, Spark) so filters compare alike.
PARTITION_COLUMN = "dt"
PARTITION_FORMAT = "%Y-%m-%d"

# A row is identified by (coin, ts, source); among duplicates the latest fetched_at wins.
DEDUP_KEY: tuple[str, ...] = ("coin", "ts", "source")
