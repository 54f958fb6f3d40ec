"""History as a download: the CSV the API serves, and Parquet/CSV files written by `nebula export`.

Every form is produced from one `History` (the points the JSON answer is made of),
so the CSV, the Parquet file and the JSON carry the same buckets and the same values. CSV
times are RFC 3339 UTC (`iso_z`), numbers are Python's shortest round-trip text (what JSON
carries), and a missing value is an empty field.

`nebula export` covers ranges longer than one API answer by asking for consecutive
interval-aligned pieces of at most MAX_POINTS buckets: no bucket straddles two pieces, so
the concatenation is the answer one unlimited request would give.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from nebulastream.query.base import QueryEngine
from nebulastream.query.service import MAX_POINTS, HistoryPoint, Interval, history
from nebulastream.query.sql import BEST, Sources
from nebulastream.timeutil import compact, floor_to, iso_z

# The columns of a history download, in the order of the JSON point (one definition).
COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(HistoryPoint))
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

FileFormat = Literal["csv", "parquet"]


@dataclasses.dataclass(frozen=True)
class History:
    """One coin's buckets over [start, end), as /prices/history answers them."""

    coin: str
    interval: Interval
    start: datetime
    end: datetime
    points: list[HistoryPoint]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, list):  # a point's sources: names never hold ';'
        return ";".join(value)
    return str(value)


def csv_text(result: History) -> str:
    """The history as CSV: a header row, then one row per bucket, oldest first (RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for bucket in result.points:
        writer.writerow(_text(getattr(bucket, name)) for name in COLUMNS)
    return buffer.getvalue()


def filename(result: History, extension: str) -> str:
    """Says coin, interval and range: BTC-5m-20261127T0000Z-20261128T0000Z.csv."""
    span = f"{compact(result.start)}-{compact(result.end)}"
    return f"{result.coin}-{result.interval.value}-{span}.{extension}"


def pieces(start: datetime, end: datetime, interval: Interval) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at bucket boundaries into ranges of at most MAX_POINTS buckets each."""
    step = timedelta(seconds=interval.seconds * MAX_POINTS)
    out = []
    lo = start
    while lo < end:
        hi = min(end, floor_to(lo, interval.seconds) + step)
        out.append((lo, hi))
        lo = hi
    return out


def long_history(
    engine: QueryEngine,
    coin: str,
    start: datetime,
    end: datetime,
    interval: Interval,
    now: datetime,
    raw_lookback_days: int,
    on_piece: Callable[[int, int], None] | None = None,
    sources: Sources = BEST,
) -> History:
    """`service.history` over any range, piece by piece; `on_piece(done, total)` after each."""
    ranges = pieces(start, end, interval)
    points: list[HistoryPoint] = []
    for done, (lo, hi) in enumerate(ranges, start=1):
        points += history(engine, coin, lo, hi, interval, now, raw_lookback_days, sources)
        if on_piece is not None:
            on_piece(done, len(ranges))
    return History(coin, interval, start, end, points)


def arrow_table(result: History) -> Any:
    """The history as a pyarrow Table: `ts` a UTC timestamp, the rest as in the JSON."""
    import pyarrow as pa

    kinds = {
        "ts": pa.timestamp("ms", tz="UTC"),
        "samples": pa.int64(),
        "sources": pa.list_(pa.string()),
    }
    schema = pa.schema([(name, kinds.get(name, pa.float64())) for name in COLUMNS])
    data = {name: [getattr(b, name) for b in result.points] for name in COLUMNS}
    data["ts"] = [b.ts.astimezone(UTC) for b in result.points]
    return pa.Table.from_pydict(data, schema=schema)


def write(result: History, path: Path, file_format: FileFormat) -> int:
    """Write the history to `path` (replacing it whole, never half-written); returns rows."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        if file_format == "csv":
            tmp.write_text(csv_text(result), encoding="utf-8", newline="")
        else:
            import pyarrow.parquet as pq

            pq.write_table(arrow_table(result), tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(result.points)
