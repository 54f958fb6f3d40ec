"""The SQL of every API query, written once in the subset Trino (Athena) and DuckDB both accept.

Each endpoint is a statement over one relation, `observations`: curated rows and not yet
curated raw rows, deduplicated by the curated DEDUP_KEY (latest `fetched_at` wins), with `dt`
recomputed as the UTC day of `ts`. Athena gets `OBSERVATIONS_CTE` in front of the statement
(over the Glue tables, pruned by their `dt` partitions); DuckDB fills an in-memory table of
that name with the very same CTE (see `query/duckdb.py`).

User input only ever travels as `?` parameters. The one dialect difference that matters is
kept in `DIALECTS`: `max_by`/`min_by` in Trino return the value at the extreme row even when it
is NULL, DuckDB's skip NULL values (its `arg_max_null` keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from nebulastream import completeness
from nebulastream.curation.definition import REJECT_RULES, SPAN_SECONDS, CurationConfig
from nebulastream.schema import CURATED_COLUMNS, DEDUP_KEY, PARTITION_COLUMN

SqlValue = str | int | float

# The columns of `observations` (the curated schema) plus its day.
COLUMNS: tuple[str, ...] = tuple(CURATED_COLUMNS)
_COLUMN_LIST = ", ".join(COLUMNS)

DIALECTS: dict[str, dict[str, str]] = {
    "trino": {
        "max_by": "max_by",
        "min_by": "min_by",
        "source_list": "array_join(array_sort(array_distinct(array_agg(source))), ',')",
    },
    "duckdb": {
        "max_by": "arg_max_null",
        "min_by": "arg_min_null",
        "source_list": "array_to_string(list_sort(list_distinct(list(source))), ',')",
    },
}

# The grid `best` picks a source on: one 5-minute slot (the fetch grid, the candle span), the
# grid completeness counts on.
SLOT_SECONDS = completeness.SLOT_SECONDS


@dataclass(frozen=True)
class Statement:
    """SQL text with `?` placeholders and their values, in textual order."""

    sql: str
    params: tuple[SqlValue, ...]


@dataclass(frozen=True)
class Sources:
    """Which observations answer: one source's rows (`only`), or, with `only` None (`best`),
    per coin and 5-minute slot the rows of the highest-ranked source that has the slot, so
    two sources never share (and double) a slot. Rank: the order of `priority`; sources not
    in it come after, by name."""

    priority: tuple[str, ...] = ()
    only: str | None = None

    @property
    def name(self) -> str:
        return self.only or "best"

    def rank(self) -> Statement:
        """SQL ranking a row's `source` (0 = preferred); values as parameters."""
        if not self.priority:
            return Statement("0", ())
        whens = " ".join(f"WHEN ? THEN {i}" for i in range(len(self.priority)))
        return Statement(f"CASE source {whens} ELSE {len(self.priority)} END", self.priority)

    def only_filter(self) -> Statement:
        return Statement(" AND source = ?", (self.only,)) if self.only else Statement("", ())


BEST = Sources()
_EPOCH_S = "date_diff('second', TIMESTAMP '1970-01-01 00:00:00', ts)"


def day_param(day: date) -> str:
    """A `dt` value: the partition key is a 'YYYY-MM-DD' string everywhere."""
    return day.isoformat()


def time_param(moment: datetime) -> str:
    """A naive UTC timestamp literal for `CAST(? AS TIMESTAMP)`; both engines parse it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _in_list(count: int) -> str:
    return ", ".join("?" for _ in range(count))


def _raw_time(column: str) -> str:
    # Raw lines hold '2026-11-28T04:03:12.000Z' (timeutil.iso_z); Trino casts only the
    # 'YYYY-MM-DD HH:MM:SS.fff' form to TIMESTAMP, and DuckDB casts it to the same value.
    # TRY_CAST (both engines): an unreadable time is NULL, which RAW_ACCEPTED leaves out, so
    # one bad raw line cannot fail every query until curation quarantines it.
    return f"TRY_CAST(replace(replace({column}, 'T', ' '), 'Z', '') AS TIMESTAMP)"


# Raw rows that curation's reject rules (nebulastream/curation/definition.py) would quarantine
# stay out of answers before curation too, so a point never shows and then vanishes. The
# bounds are curation's own; `fetched_at <= now + skew` is left to curation (it needs a clock).
_RULES = CurationConfig()
_CANDLE_CONSISTENT = next(r.passes for r in REJECT_RULES if r.name == "candle_consistent")
RAW_ACCEPTED = f"""coin IS NOT NULL AND coin <> '' AND source IS NOT NULL AND source <> ''
    AND ts IS NOT NULL AND fetched_at IS NOT NULL AND slot_ts IS NOT NULL
    AND price_usd > 0 AND price_usd < CAST('Infinity' AS DOUBLE)
    AND ({_CANDLE_CONSISTENT})
    AND ts <= fetched_at + INTERVAL '{_RULES.max_skew_seconds}' SECOND
    AND ts >= slot_ts - INTERVAL '{_RULES.max_lag_seconds}' SECOND
    AND ts < slot_ts + INTERVAL '{_RULES.batch_span_seconds}' SECOND"""


# A raw batch's key from the path of its file (Athena's "$path" is an s3:// URI).
RAW_KEY_FROM_PATH = "regexp_extract({path}, 'raw/dt=[^/]+/[^/]+$')"


def raw_key_from(path_column: str) -> str:
    return RAW_KEY_FROM_PATH.format(path=path_column)


def raw_scope(
    raw_days: tuple[date, date], raw_path: str, skip: tuple[tuple[str, str], ...]
) -> Statement:
    """The raw files a query reads: its `dt` partitions, minus the curated key ranges `skip`.

    Each range is a plain comparison on the file path column (Athena's "$path"), which Trino
    turns into a domain on "$path" and prunes before opening a file: the raw side then costs
    the batches past the last curated slot, not days of them (lake/bound.py).
    """
    sql = f"{PARTITION_COLUMN} BETWEEN ? AND ?"
    sql += "".join(f" AND NOT ({raw_path} BETWEEN ? AND ?)" for _ in skip)
    params = (day_param(raw_days[0]), day_param(raw_days[1]), *(v for pair in skip for v in pair))
    return Statement(sql, params)


def observations_cte(
    curated: str,
    raw: str,
    *,
    curated_days: tuple[date, date],
    raw_days: tuple[date, date],
    coins: tuple[str, ...] | None,
    raw_key: str = "raw_key",
    raw_path: str = "raw_key",
    raw_skip: tuple[tuple[str, str], ...] = (),
) -> Statement:
    """`WITH ... observations AS (...)`: curated and raw rows of the given partitions, deduped.

    A raw batch that is read here is the newest word on its rows: the curated rows it
    produced before (same raw_key) are left out, so a re-fetched slot never shows its old
    and new observation side by side before curation runs again. Raw rows that curation
    would reject (RAW_ACCEPTED) are left out too. `raw_key` is the SQL giving a raw row's
    batch key (a column locally, derived from "$path" on Athena); `raw_path` and `raw_skip`
    bound the raw files read (raw_scope).
    """
    scope = raw_scope(raw_days, raw_path, raw_skip)
    coin_sql = f" AND coin IN ({_in_list(len(coins))})" if coins else ""
    coin_params: tuple[str, ...] = coins or ()
    key = ", ".join(DEDUP_KEY)
    sql = f"""WITH raw_batches AS (
  SELECT DISTINCT {raw_key} AS raw_key
  FROM {raw}
  WHERE {scope.sql}
),
curated_rows AS (
  SELECT {_COLUMN_LIST}
  FROM {curated}
  WHERE {PARTITION_COLUMN} BETWEEN ? AND ?{coin_sql}
    AND (raw_key IS NULL
         OR raw_key NOT IN (SELECT raw_key FROM raw_batches WHERE raw_key IS NOT NULL))
),
raw_rows AS (
  SELECT {_COLUMN_LIST.replace("span_seconds", "span_s AS span_seconds")}
  FROM (
    SELECT coin, {_raw_time("observed_at")} AS ts, price_usd, market_cap_usd, volume_24h_usd,
           change_24h_pct, source, {_raw_time("fetched_at")} AS fetched_at,
           open_usd, high_usd, low_usd, {SPAN_SECONDS} AS span_s, volume_usd,
           {_raw_time("slot")} AS slot_ts, {raw_key} AS raw_key
    FROM {raw}
    WHERE {scope.sql}{coin_sql}
  ) AS typed
  WHERE {RAW_ACCEPTED}
),
ranked AS (
  SELECT {_COLUMN_LIST},
         row_number() OVER (
           PARTITION BY {key} ORDER BY fetched_at DESC, raw_key DESC
         ) AS copy_rank
  FROM (SELECT {_COLUMN_LIST} FROM curated_rows
        UNION ALL
        SELECT {_COLUMN_LIST} FROM raw_rows) AS merged
),
observations AS (
  SELECT {_COLUMN_LIST}, CAST(CAST(ts AS DATE) AS VARCHAR) AS {PARTITION_COLUMN}
  FROM ranked
  WHERE copy_rank = 1
)
"""
    params = (
        *scope.params,
        day_param(curated_days[0]),
        day_param(curated_days[1]),
        *coin_params,
        *scope.params,
        *coin_params,
    )
    return Statement(sql, params)


def latest(coins: tuple[str, ...], days: tuple[date, date], sources: Sources = BEST) -> Statement:
    """The newest observation of each coin among the given days: its newest 5-minute slot,
    that slot's best-ranked source (`sources`), then the newest row (ties: latest fetch)."""
    rank, only = sources.rank(), sources.only_filter()
    sql = f"""SELECT coin, price_usd, market_cap_usd, volume_24h_usd, change_24h_pct, ts, source
FROM (
  SELECT coin, price_usd, market_cap_usd, volume_24h_usd, change_24h_pct, ts, source,
         row_number() OVER (
           PARTITION BY coin
           ORDER BY epoch_s - epoch_s % {SLOT_SECONDS} DESC, {rank.sql}, source, ts DESC,
                    fetched_at DESC
         ) AS recency
  FROM (
    SELECT coin, price_usd, market_cap_usd, volume_24h_usd, change_24h_pct, ts, source,
           fetched_at, {_EPOCH_S} AS epoch_s
    FROM observations
    WHERE {PARTITION_COLUMN} BETWEEN ? AND ? AND ts >= CAST(? AS TIMESTAMP)
      AND coin IN ({_in_list(len(coins))}){only.sql}
  ) AS timed
) AS ranked
WHERE recency = 1
ORDER BY coin"""
    start = datetime(days[0].year, days[0].month, days[0].day)
    params = (
        *rank.params,
        day_param(days[0]),
        day_param(days[1]),
        time_param(start),
        *coins,
        *only.params,
    )
    return Statement(sql, params)


# OHLC over candles and points alike: a point's price is its open, high, low and close.
HISTORY_TEMPLATE = """SELECT bucket,
       {min_by}(coalesce(open_usd, price_usd), ts) AS open,
       max(coalesce(high_usd, price_usd)) AS high,
       min(coalesce(low_usd, price_usd)) AS low,
       {max_by}(price_usd, ts) AS close,
       count(*) AS samples,
       {max_by}(market_cap_usd, ts) AS market_cap_usd,
       {max_by}(volume_24h_usd, ts) AS volume_24h_usd,
       {source_list} AS sources
FROM (
  SELECT epoch_s - epoch_s % ? AS bucket, ts, price_usd, open_usd, high_usd, low_usd,
         market_cap_usd, volume_24h_usd, source{pick}
  FROM (
    SELECT {epoch_s} AS epoch_s,
           ts, price_usd, open_usd, high_usd, low_usd, market_cap_usd, volume_24h_usd, source
    FROM observations
    WHERE coin = ? AND {dt} BETWEEN ? AND ?
      AND ts >= CAST(? AS TIMESTAMP) AND ts < CAST(? AS TIMESTAMP){only}
  ) AS picked
) AS bucketed{picked}
GROUP BY bucket
ORDER BY bucket"""
# `best`: a row is kept when its source ranks first among the rows of its 5-minute slot. A
# window min, not a join of the slot minima: Trino inlines a subquery used twice, which would
# read the observations (S3 objects) twice. Sources outside the ranking share its last rank.
_BEST_PICK = (
    ",\n         {rank} AS source_rank,\n"
    "         min({rank}) OVER (PARTITION BY epoch_s - epoch_s % {slot}) AS best_rank"
)
_BEST_WHERE = "\nWHERE source_rank = best_rank"


def history(
    coin: str,
    start: datetime,
    end: datetime,
    interval_seconds: int,
    days: tuple[date, date],
    dialect: str,
    sources: Sources = BEST,
) -> Statement:
    """OHLC buckets of `interval_seconds` since the Unix epoch over [start, end); `bucket` is
    the bucket start in Unix seconds, `sources` the comma-joined names its rows came from.
    Naive UTC datetimes in, empty buckets never appear. One named source needs no pick: its
    rows are deduplicated per (coin, ts) already."""
    only = sources.only_filter()
    rank = sources.rank() if sources.only is None else Statement("", ())
    pick = _BEST_PICK.format(rank=rank.sql, slot=SLOT_SECONDS) if rank.sql else ""
    sql = HISTORY_TEMPLATE.format(
        dt=PARTITION_COLUMN,
        epoch_s=_EPOCH_S,
        pick=pick,
        picked=_BEST_WHERE if rank.sql else "",
        only=only.sql,
        **DIALECTS[dialect],
    )
    params = (
        interval_seconds,
        *rank.params,
        *rank.params,
        coin,
        day_param(days[0]),
        day_param(days[1]),
        time_param(start),
        time_param(end),
        *only.params,
    )
    return Statement(sql, params)


def coins(days: tuple[date, date]) -> Statement:
    """Per coin and source: first and last timestamp and row count over the given days."""
    sql = f"""SELECT coin, source, min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS observations
FROM observations
WHERE {PARTITION_COLUMN} BETWEEN ? AND ?
GROUP BY coin, source
ORDER BY coin, source"""
    return Statement(sql, (day_param(days[0]), day_param(days[1])))


def slot_breaks(
    days: tuple[date, date], step: int, coins: tuple[str, ...] | None = None
) -> Statement:
    """Where each coin's run of present slots breaks: the few rows completeness needs.

    A slot is `floor(ts, step)` in Unix seconds, present when any source has a row in it.
    One row per present slot that is not followed by the next slot on the grid: (coin, slot,
    next_slot, present, first_slot); next_slot is NULL for the coin's last slot, so
    [slot + step, next_slot) is a gap, `present` the coin's distinct slots and `first_slot`
    its first (nebulastream/completeness.py reads these rows).
    """
    coin_sql = f" AND coin IN ({_in_list(len(coins))})" if coins else ""
    sql = f"""SELECT coin, slot, next_slot, present, first_slot
FROM (
  SELECT coin, slot,
         lead(slot) OVER (PARTITION BY coin ORDER BY slot) AS next_slot,
         count(*) OVER (PARTITION BY coin) AS present,
         min(slot) OVER (PARTITION BY coin) AS first_slot
  FROM (
    SELECT DISTINCT coin, epoch_s - epoch_s % ? AS slot
    FROM (
      SELECT coin, date_diff('second', TIMESTAMP '1970-01-01 00:00:00', ts) AS epoch_s
      FROM observations
      WHERE {PARTITION_COLUMN} BETWEEN ? AND ?{coin_sql}
    ) AS timed
  ) AS slots
) AS runs
WHERE next_slot IS NULL OR next_slot > slot + ?
ORDER BY coin, slot"""
    picked: tuple[str, ...] = coins or ()
    params: tuple[SqlValue, ...] = (step, day_param(days[0]), day_param(days[1]), *picked, step)
    return Statement(sql, params)
