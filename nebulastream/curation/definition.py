"""The one curation definition: typing, data-quality rules, dedup, spikes and gaps, as SQL.

Both engines execute exactly this text: DuckDB (`nebula transform`) and Spark (the Glue job),
driven by the one stage order in `pipeline.py`. The SQL sticks to what DuckDB and Spark SQL
share; the few functions they spell differently (parsing RFC 3339, converting epoch
microseconds) come from a `Dialect`. Inside the pipeline every instant is a BIGINT of epoch
microseconds, so comparisons and arithmetic are plain integer math and identical on both
engines; timestamps appear only at the end.

A curated day is a pure function of the raw batches that can feed it (`feeding_days`): the
engines materialise these stages over exactly those batches, in this order:

    raw_lines      RAW_INPUT_COLUMNS, one row per raw line (corrupt_record set if unparseable)
    touched_days   dt, start_us, end_us: the curated days this run rebuilds
    checked        = checked_sql(): typed raw lines plus `rule`, the first rule each one fails
    candidates     = candidates_sql(): accepted rows on the touched days, spot rank attached
    deduped        = deduped_sql(): one row per coin and spot batch, then one per DEDUP_KEY
"""

# The SQL here is assembled only from this module's constants and typed numbers, never from
# user input, so string-built queries (S608) are safe by construction.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nebulastream.lake.layout import SPOT_KEY_LIKE
from nebulastream.models import RAW_COLUMNS
from nebulastream.schema import CURATED_COLUMNS, DEDUP_KEY, PARTITION_COLUMN, PARTITION_FORMAT

# What the runners feed in as `raw_lines`: the raw line's fields (models.RAW_COLUMNS less the
# verbatim source_payload, which curation never reads), where it came from, and the text of a
# line that did not parse as a JSON object.
RAW_INPUT_COLUMNS: dict[str, str] = {
    "raw_key": "string",
    **{name: kind for name, kind in RAW_COLUMNS.items() if name != "source_payload"},
    "corrupt_record": "string",
}
RAW_FIELDS = [c for c in RAW_INPUT_COLUMNS if c not in ("raw_key", "corrupt_record")]
MEASURES = [
    "price_usd",
    "market_cap_usd",
    "volume_24h_usd",
    "change_24h_pct",
    "open_usd",
    "high_usd",
    "low_usd",
    "volume_usd",
]
# What `candidates` takes from `checked` besides coin, time, source and batch: the measures
# and the span as whole seconds (see _SPAN).
CARRIED = [*MEASURES, "span_s AS span_seconds"]
US = 1_000_000
DAY_US = 86400 * US


@dataclass(frozen=True)
class CurationConfig:
    """The knobs of the rules. Defaults suit CoinGecko's 5-minute spot and daily backfill."""

    spike_factor: float = 1.5  # a point this many times above/below both neighbours is flagged
    deviation_pct: float = 2.0  # two sources' prices of one coin and slot this far apart: flagged
    max_skew_seconds: int = 120  # clock skew tolerated between source, fetcher and this run
    max_lag_seconds: int = 3600  # how stale a spot price may be against its slot
    batch_span_seconds: int = 86400  # a batch covers at most one day after its slot (backfill)
    slot_seconds: int = 300  # the grid that gap reports count missing slots on

    def __post_init__(self) -> None:
        if not self.spike_factor > 1:
            raise ValueError(f"spike_factor must be greater than 1, not {self.spike_factor}")
        if not self.deviation_pct > 0:
            raise ValueError(f"deviation_pct must be above 0, not {self.deviation_pct}")
        if self.slot_seconds <= 0 or 86400 % self.slot_seconds:
            raise ValueError(f"slot_seconds must divide a day, not {self.slot_seconds}")


@dataclass(frozen=True)
class Dialect:
    """The few SQL functions DuckDB and Spark spell differently; `{x}` is the argument.

    Both engines must run with the session time zone set to UTC.
    """

    name: str
    parse_us: str  # RFC 3339 text -> BIGINT epoch microseconds; NULL when malformed
    ts_to_us: str  # curated timestamp (naive, holding UTC) -> epoch microseconds
    us_to_ts: str  # epoch microseconds -> curated timestamp (naive, holding UTC)
    us_to_day: str  # epoch microseconds -> 'YYYY-MM-DD' (UTC)

    def call(self, template: str, argument: str) -> str:
        return template.replace("{x}", argument)


DUCKDB = Dialect(
    name="duckdb",
    parse_us="epoch_us(TRY_CAST({x} AS TIMESTAMPTZ))",
    ts_to_us="epoch_us({x})",
    us_to_ts="make_timestamp({x})",
    us_to_day="strftime(make_timestamp({x}), '%Y-%m-%d')",
)
SPARK = Dialect(
    name="spark",
    parse_us="unix_micros(try_to_timestamp({x}))",
    ts_to_us="unix_micros(CAST({x} AS TIMESTAMP))",
    us_to_ts="CAST(timestamp_micros({x}) AS TIMESTAMP_NTZ)",
    us_to_day="date_format(timestamp_micros({x}), 'yyyy-MM-dd')",
)


@dataclass(frozen=True)
class Rule:
    """A named data-quality rule: `passes` is SQL over `checked`'s typed columns."""

    name: str
    description: str
    passes: str


# Order matters: a row is quarantined under the first rule it fails, so every rejected row
# is counted once. Later rules may assume earlier ones hold (e.g. timestamps are present).
REJECT_RULES: tuple[Rule, ...] = (
    Rule(
        "well_formed",
        "the raw line is a JSON object with the raw fields' types",
        "corrupt_record IS NULL",
    ),
    Rule(
        "required_fields",
        "coin, source, price_usd, observed_at, fetched_at and slot are present "
        "(timestamps as RFC 3339)",
        "coin IS NOT NULL AND coin <> '' AND source IS NOT NULL AND source <> '' "
        "AND price_usd IS NOT NULL AND ts_us IS NOT NULL AND fetched_us IS NOT NULL "
        "AND slot_us IS NOT NULL",
    ),
    Rule(
        "price_finite_positive",
        "price_usd is a finite number above zero",
        # NaN sorts above +Infinity on both engines, so this also rejects NaN.
        "price_usd > 0 AND price_usd < CAST('Infinity' AS DOUBLE)",
    ),
    Rule(
        "candle_consistent",
        "a candle (span_seconds > 0) has open, high and low, all finite and above zero, with "
        "low <= open, close <= high (close is price_usd); a point (span 0) passes",
        "span_s = 0 OR (span_s > 0 AND open_usd > 0 AND low_usd > 0 "
        "AND high_usd < CAST('Infinity' AS DOUBLE) AND low_usd <= open_usd "
        "AND low_usd <= price_usd AND open_usd <= high_usd AND price_usd <= high_usd)",
    ),
    Rule(
        "ts_not_future",
        "the observation is not later than its fetch, nor the fetch later than this run "
        "(beyond max_skew_seconds)",
        "ts_us <= fetched_us + {skew_us} AND fetched_us <= {now_us} + {skew_us}",
    ),
    Rule(
        "ts_plausible_for_batch",
        "the observation lies within its batch: at most max_lag_seconds before the batch's "
        "slot and less than batch_span_seconds after it",
        "ts_us >= slot_us - {lag_us} AND ts_us < slot_us + {span_us}",
    ),
    Rule(
        "slot_on_batch_day",
        "the batch's slot lies on the UTC day its raw key's dt= partition names (so a batch "
        "can only feed the days next to its partition, which is what lets a run rebuild a "
        "day from the few partitions around it)",
        f"slot_us >= part_us AND slot_us < part_us + {DAY_US}",
    ),
)
SPIKE_RULE = Rule(
    "spike",
    "the price is more than spike_factor above or below both neighbours of the same coin "
    "and source; flagged in the report, kept in curated",
    "see spikes_sql()",
)
DEVIATION_RULE = Rule(
    "source_deviation",
    "two sources' prices for the same coin and slot differ by more than deviation_pct of the "
    "lower one; flagged in the report, both kept",
    "see deviations_sql()",
)
RULE_NAMES = [rule.name for rule in REJECT_RULES]


def _params(config: CurationConfig, now: datetime) -> dict[str, str]:
    return {
        "skew_us": str(config.max_skew_seconds * US),
        "lag_us": str(config.max_lag_seconds * US),
        "span_us": str(config.batch_span_seconds * US),
        "now_us": str(epoch_us(now)),
    }


def epoch_us(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime, exactly (no float rounding)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def checked_sql(d: Dialect, config: CurationConfig, now: datetime) -> str:
    """Every raw line typed, with `rule` = the first reject rule it fails (NULL: accepted)."""
    params = _params(config, now)
    failing = "\n".join(
        f"        WHEN NOT COALESCE({_fill(rule.passes, params)}, FALSE) THEN '{rule.name}'"
        for rule in REJECT_RULES
    )
    return f"""
SELECT *,
    CASE
{failing}
    END AS rule
FROM (
    SELECT raw_key, {", ".join(RAW_FIELDS)}, corrupt_record,
        {SPAN_SECONDS} AS span_s,
        {d.call(d.parse_us, "observed_at")} AS ts_us,
        {d.call(d.parse_us, "fetched_at")} AS fetched_us,
        {d.call(d.parse_us, "slot")} AS slot_us,
        {d.call(d.parse_us, _PARTITION_START)} AS part_us
    FROM raw_lines
) AS typed
"""


# A line's span as a whole number of seconds (the API's raw side uses it too): 0 when absent
# (a point, or a line written before candles existed), -1 (rejected by candle_consistent) when
# negative, fractional, beyond a day or not a number. The raw double stays for quarantine.
SPAN_SECONDS = (
    "CASE WHEN span_seconds IS NULL THEN 0 "
    "WHEN span_seconds >= 0 AND span_seconds <= 86400 AND span_seconds = FLOOR(span_seconds) "
    "THEN CAST(span_seconds AS BIGINT) ELSE -1 END"
)
# The batch key's partition day as RFC 3339 midnight ('' when the key has none: rule fails).
_PARTITION_START = (
    "concat(regexp_extract(raw_key, 'dt=([0-9]{4}-[0-9]{2}-[0-9]{2})/', 1), 'T00:00:00Z')"
)


def _fill(template: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        template = template.replace("{" + name + "}", value)
    return template


def changed_days_sql(d: Dialect) -> str:
    """The days the accepted rows of the batches in `changed_batches` (raw_key) fall on."""
    return f"""
SELECT DISTINCT {d.call(d.us_to_day, "ts_us")} AS dt FROM checked
WHERE rule IS NULL AND raw_key IN (SELECT raw_key FROM changed_batches)
"""


def quarantine_sql() -> str:
    """Rejected rows with their rule and raw key, in a stable order (quarantine files)."""
    return f"""
SELECT rule, raw_key, {", ".join(RAW_FIELDS)}, corrupt_record
FROM checked WHERE rule IS NOT NULL
ORDER BY raw_key, coin, observed_at, fetched_at, source, rule, corrupt_record
"""


def counts_sql() -> str:
    """Rows read per verdict: rule name, or NULL for accepted."""
    return "SELECT rule, COUNT(*) AS n FROM checked GROUP BY rule"


def candidates_sql(d: Dialect) -> str:
    """Accepted rows that fall on the touched days, each with its rank within its spot batch.

    A spot batch is one fetch of one slot, so it holds one observation per coin: should a
    batch carry two lines of a coin, the latest fetch (then the values) wins. The rank is
    taken over the whole batch before the day filter, so it never depends on which days a
    run happens to rebuild.
    """
    carried = ", ".join(CARRIED)
    tiebreak = ", ".join(f"{m} DESC NULLS LAST" for m in MEASURES)
    return f"""
SELECT * FROM (
    SELECT coin, ts_us, {carried}, source, fetched_us, raw_key,
        CASE WHEN raw_key LIKE '{SPOT_KEY_LIKE}' THEN ROW_NUMBER() OVER (
            PARTITION BY raw_key, coin, source ORDER BY fetched_us DESC, ts_us DESC, {tiebreak}
        ) ELSE 1 END AS rank_in_slot
    FROM checked WHERE rule IS NULL
) AS accepted
WHERE {d.call(d.us_to_day, "ts_us")} IN (SELECT dt FROM touched_days)
"""


def deduped_sql() -> str:
    """The candidates, one per coin and spot batch, then one per DEDUP_KEY.

    The latest fetched_at wins; ties (the same fetch read twice) break on the values, then
    on the raw key, so the result depends only on the set of rows, not on their order or
    which engine read them.
    """
    key = ", ".join(k if k != "ts" else "ts_us" for k in DEDUP_KEY)
    carried = ", ".join([*MEASURES, "span_seconds"])
    tiebreak = ", ".join(f"{m} DESC NULLS LAST" for m in MEASURES)
    return f"""
SELECT coin, ts_us, {carried}, source, fetched_us, raw_key
FROM (
    SELECT *, ROW_NUMBER() OVER (
        PARTITION BY {key} ORDER BY fetched_us DESC, {tiebreak}, span_seconds DESC, raw_key DESC
    ) AS rank_in_key
    FROM candidates WHERE rank_in_slot = 1
) AS ranked
WHERE rank_in_key = 1
"""


def curated_sql(d: Dialect) -> str:
    """The curated rows in CURATED_COLUMNS order plus dt, sorted as they are stored."""
    columns = {
        "ts": f"{d.call(d.us_to_ts, 'ts_us')} AS ts",
        "fetched_at": f"{d.call(d.us_to_ts, 'fetched_us')} AS fetched_at",
    }
    select = ", ".join(columns.get(name, name) for name in CURATED_COLUMNS)
    return f"""
SELECT {select}, {d.call(d.us_to_day, "ts_us")} AS {PARTITION_COLUMN}
FROM deduped
ORDER BY {PARTITION_COLUMN}, coin, ts_us, source
"""


def spikes_sql(config: CurationConfig) -> str:
    """Curated points beyond spike_factor above or below both neighbours (flagged only).

    Judging against both neighbours flags an excursion that comes back, not a lasting move
    (a step); the first and last point of the period have one neighbour and are left alone
    (the next run, which brings their next neighbour, judges them).
    """
    factor = repr(float(config.spike_factor))

    def jump(other: str) -> str:
        return f"(price_usd > {other} * {factor} OR price_usd * {factor} < {other})"

    return f"""
SELECT coin, source, ts_us, price_usd, prev_price, next_price
FROM (
    SELECT coin, source, ts_us, price_usd,
        LAG(price_usd) OVER (PARTITION BY coin, source ORDER BY ts_us) AS prev_price,
        LEAD(price_usd) OVER (PARTITION BY coin, source ORDER BY ts_us) AS next_price
    FROM deduped
) AS neighbours
WHERE {jump("prev_price")} AND {jump("next_price")}
ORDER BY coin, source, ts_us
"""


def deviations_sql(config: CurationConfig) -> str:
    """Coins and slots where two sources' prices differ by more than deviation_pct (of the
    lower one); flagged in the report, both rows kept. Each source's last price in the slot
    counts (a candle's close)."""
    slot = config.slot_seconds * US
    pct = repr(float(config.deviation_pct))
    return f"""
WITH last_price AS (
    SELECT coin, source, slot_us, price_usd FROM (
        SELECT coin, source, ts_us - (ts_us % {slot}) AS slot_us, price_usd,
            ROW_NUMBER() OVER (
                PARTITION BY coin, source, ts_us - (ts_us % {slot}) ORDER BY ts_us DESC
            ) AS recency
        FROM deduped
    ) AS ranked
    WHERE recency = 1
)
SELECT a.coin AS coin, a.slot_us AS slot_us, a.source AS source_a, a.price_usd AS price_a,
    b.source AS source_b, b.price_usd AS price_b
FROM last_price a JOIN last_price b
    ON a.coin = b.coin AND a.slot_us = b.slot_us AND a.source < b.source
WHERE ABS(a.price_usd - b.price_usd) > {pct} / 100 * LEAST(a.price_usd, b.price_usd)
ORDER BY coin, slot_us, source_a, source_b
"""


def gaps_sql(config: CurationConfig) -> str:
    """Missing slots per coin over the rebuilt days that hold rows: ranges [start_us, end_us).

    Each such day contributes a sentinel slot just before its start and one at its end
    (or at the current slot for today), so leading and trailing gaps are found too. Ranges
    are per day; the report joins ranges that meet at midnight.
    """
    slot = config.slot_seconds * US
    day = 86400 * US
    return f"""
WITH coins AS (SELECT DISTINCT coin FROM deduped),
curated_days AS (
    SELECT * FROM touched_days
    WHERE start_us IN (SELECT DISTINCT ts_us - (ts_us % {day}) FROM deduped)
),
marks AS (
    SELECT DISTINCT coin, ts_us - (ts_us % {slot}) AS slot_us, ts_us - (ts_us % {day}) AS day_us
    FROM deduped
    UNION ALL
    SELECT coins.coin, curated_days.start_us - {slot}, curated_days.start_us
    FROM coins CROSS JOIN curated_days
    UNION ALL
    SELECT coins.coin, curated_days.end_us, curated_days.start_us
    FROM coins CROSS JOIN curated_days
)
SELECT coin, slot_us + {slot} AS start_us, next_us AS end_us
FROM (
    SELECT coin, slot_us,
        LEAD(slot_us) OVER (PARTITION BY coin, day_us ORDER BY slot_us) AS next_us
    FROM marks
) AS ordered
WHERE next_us - slot_us > {slot}
ORDER BY coin, start_us
"""


def slot_counts_sql(config: CurationConfig) -> str:
    """Per coin and rebuilt day holding rows: its distinct slots with a row from any source,
    and the first and last of them (the report's completeness, nebulastream/completeness.py)."""
    slot = config.slot_seconds * US
    day = 86400 * US
    return f"""
SELECT coin, ts_us - (ts_us % {day}) AS day_us,
    COUNT(DISTINCT ts_us - (ts_us % {slot})) AS present,
    MIN(ts_us - (ts_us % {slot})) AS first_us,
    MAX(ts_us - (ts_us % {slot})) AS last_us
FROM deduped
GROUP BY coin, ts_us - (ts_us % {day})
ORDER BY coin, day_us
"""


def _day(text: str) -> datetime:
    return datetime.strptime(text, PARTITION_FORMAT).replace(tzinfo=UTC)


def fed_days(partition: str, config: CurationConfig) -> list[str]:
    """The curated days a raw batch in `dt=partition` can put rows on.

    Its slot lies on the partition's day (rule slot_on_batch_day) and its rows within
    [slot - max_lag, slot + batch_span) (ts_plausible_for_batch): with the defaults, the
    day before, the day itself and the day after.
    """
    start = _day(partition)
    first = start - timedelta(seconds=config.max_lag_seconds)
    last = start + timedelta(days=1, seconds=config.batch_span_seconds, microseconds=-1)
    count = (last.date() - first.date()).days + 1
    return [(first + timedelta(days=i)).strftime(PARTITION_FORMAT) for i in range(count)]


def feeding_partitions(day: str, config: CurationConfig) -> list[str]:
    """The raw dt= partitions whose batches can put rows on curated `day` (fed_days' inverse)."""
    reach = (config.max_lag_seconds + config.batch_span_seconds) // 86400 + 2
    base = _day(day)
    around = [(base + timedelta(days=i)).strftime(PARTITION_FORMAT) for i in range(-reach, reach)]
    return [p for p in around if day in fed_days(p, config)]


def touched_days(
    days: list[str], now: datetime, config: CurationConfig
) -> list[tuple[str, int, int]]:
    """(dt, start_us, end_us) per touched day; end stops at the current slot for today."""
    current_slot = epoch_us(now) // (config.slot_seconds * US) * config.slot_seconds * US
    rows = []
    for day in days:
        start = datetime.strptime(day, PARTITION_FORMAT).replace(tzinfo=UTC)
        start_us = epoch_us(start)
        end_us = min(epoch_us(start + timedelta(days=1)), max(current_slot, start_us))
        rows.append((day, start_us, end_us))
    return rows
