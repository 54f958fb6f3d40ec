"""The CSV form of /prices/history: same buckets as the JSON, as a file a spreadsheet opens."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from nebulastream.query import export
from nebulastream.query.export import History

CSV_EXAMPLE = (
    "ts,open,high,low,close,samples,market_cap_usd,volume_24h_usd\r\n"
    "2026-11-27T05:00:00.000Z,3521.4,3530.0,3518.2,3525.9,12,423000000000.0,18000000000.0\r\n"
)

# The 200 answer's second media type and its header, for the OpenAPI document.
HISTORY_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON (default) or, with format=csv, CSV with a header row.",
        "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
        "headers": {
            "Content-Disposition": {
                "description": "With format=csv: attachment; filename says coin, interval "
                "and range (BTC-5m-20261127T0000Z-20261128T0000Z.csv).",
                "schema": {"type": "string"},
            }
        },
    }
}


def csv_answer(result: History, cache_control: str) -> Response:
    """The history as a CSV download (made from the same result as the JSON answer)."""
    return Response(
        export.csv_text(result),
        media_type=export.CSV_MEDIA_TYPE,
        headers={
            "Cache-Control": cache_control,
            "Content-Disposition": f'attachment; filename="{export.filename(result, "csv")}"',
        },
    )
