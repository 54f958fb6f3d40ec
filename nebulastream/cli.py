"""The `nebula` command line: thin commands that parse flags and call the core."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nebulastream.coins import UnknownCoinError, parse_symbols
from nebulastream.curation.local import transform as run_transform
from nebulastream.curation.outputs import VersionedLake
from nebulastream.edge import make_coingecko, make_curation_config, make_lake
from nebulastream.ingest import FetchResult, Window, backfill, fetch_spot, plan_backfill
from nebulastream.lake.layout import report_key
from nebulastream.lake.storage import LakeError
from nebulastream.settings import Settings
from nebulastream.sources.base import SourceError
from nebulastream.timeutil import TimeFormatError, floor_to, iso_z, parse_time, utcnow

app = typer.Typer(
    help="NebulaStream: collect, curate and serve crypto price history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)
log = logging.getLogger("nebulastream.cli")


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, no traceback, non-zero exit."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        reasons = "; ".join(
            f"NEBULA_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            if e["loc"]
            else e["msg"].removeprefix("Value error, ")
            for e in error.errors()
        )
        fail(f"invalid settings: {reasons}", code=2)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _print_fetch(result: FetchResult) -> None:
    table = Table(title=f"slot {iso_z(result.slot)}  ->  {result.key}", title_justify="left")
    for column in (
        "coin",
        "price_usd",
        "market_cap_usd",
        "volume_24h_usd",
        "change_24h_pct",
        "observed_at",
    ):
        table.add_column(column, justify="left" if column in ("coin", "observed_at") else "right")
    for o in result.observations:
        table.add_row(
            o.coin,
            *(
                repr(v) if v is not None else "null"
                for v in (o.price_usd, o.market_cap_usd, o.volume_24h_usd, o.change_24h_pct)
            ),
            iso_z(o.observed_at) if o.observed_at else "null",
        )
    console.print(table)
    for o in result.observations:
        if not (problems := o.problems()):
            continue
        console.print(
            f"[yellow]warning:[/] {o.coin}: {', '.join(problems)} "
            "(stored raw; curation will quarantine it)"
        )
    if result.missing:
        console.print(f"[yellow]warning:[/] the source left out {', '.join(result.missing)}")


def _fetch_once(settings: Settings, slot: datetime | None = None) -> FetchResult:
    now = utcnow()
    slot = slot or floor_to(now, settings.fetch_interval_seconds)
    source = make_coingecko(settings)
    with source.client:
        return fetch_spot(source, make_lake(settings), slot=slot, now=now)


@app.command()
def fetch() -> None:
    """Fetch current prices once into the raw zone (one batch per 5-minute slot)."""
    settings = load_settings()
    try:
        result = _fetch_once(settings)
    except (SourceError, LakeError) as error:
        fail(str(error))
    _print_fetch(result)


@app.command(name="backfill")
def backfill_command(
    start: Annotated[
        str, typer.Option(help="Start, RFC 3339 (2026-11-01T00:00:00Z) or Unix seconds.")
    ],
    end: Annotated[str, typer.Option(help="End (exclusive), RFC 3339 or Unix seconds.")],
    coins: Annotated[
        str | None, typer.Option(help="Comma-separated symbols; default NEBULA_COINS.")
    ] = None,
) -> None:
    """Load history from CoinGecko in one-day windows; resumable, re-runs store nothing twice."""
    settings = load_settings()
    try:
        lo, hi = parse_time(start), parse_time(end)
    except TimeFormatError as error:
        fail(str(error), code=2)
    if lo >= hi:
        fail(f"--start ({iso_z(lo)}) must be before --end ({iso_z(hi)}).", code=2)
    symbols = parse_symbols(coins) if coins else settings.coins
    try:
        source = make_coingecko(settings, symbols, deadline=120.0)
    except UnknownCoinError as error:
        fail(str(error), code=2)
    lake = make_lake(settings)
    windows = plan_backfill(source.name, symbols, lo, hi)
    with (
        Progress(
            TextColumn("[bold]backfill[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("windows"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress,
        source.client,
    ):
        task = progress.add_task("", total=len(windows))

        def advance(window: Window, points: int | None) -> None:
            state = "already stored" if points is None else f"{points} points"
            progress.update(
                task, advance=1, description=f"{window.coin} {window.start:%Y-%m-%d} ({state})"
            )

        try:
            result = backfill(source, lake, windows, now=utcnow, on_window=advance)
        except (SourceError, LakeError) as error:
            progress.stop()
            fail(f"{error} Windows done so far are kept; re-run the same command to resume.")
        except KeyboardInterrupt:
            progress.stop()
            fail(
                "interrupted; windows done so far are kept; re-run the same command to resume.",
                code=130,
            )
    console.print(
        f"stored {result.points} points in {len(result.stored)} batches; "
        f"{len(result.skipped)} windows were already stored (lake: {lake.uri})"
    )


@app.command()
def transform(
    full: Annotated[
        bool, typer.Option("--full", help="Reprocess every raw batch, not only new ones.")
    ] = False,
) -> None:
    """Curate raw batches into Parquet under curated/, with quarantine/ and a report."""
    settings = load_settings()
    lake = make_lake(settings)
    if not isinstance(lake, VersionedLake):
        fail(f"{lake.uri}: this lake cannot tell which raw batches changed; use a folder or S3.")
    now = utcnow()
    try:
        report = run_transform(lake, config=make_curation_config(settings), now=now, full=full)
    except LakeError as error:
        fail(str(error))
    console.print(report.summary(), highlight=False, soft_wrap=True)
    console.print(
        f"report: {lake.uri.rstrip('/')}/{report_key(now, report.runner)}",
        highlight=False,
        soft_wrap=True,
    )


def next_slot(now: datetime, interval: int) -> datetime:
    return floor_to(now, interval) + timedelta(seconds=interval)


@app.command()
def run() -> None:
    """Run the pipeline locally: fetch on every slot until Ctrl-C."""
    settings = load_settings()
    stop = threading.Event()
    console.print(
        f"NebulaStream running: fetching {', '.join(settings.coins)} every "
        f"{settings.fetch_interval_seconds // 60} min into {make_lake(settings).uri}. Ctrl-C stops."
    )
    try:
        slot = floor_to(utcnow(), settings.fetch_interval_seconds)
        while not stop.is_set():
            try:
                _print_fetch(_fetch_once(settings, slot))
            except (SourceError, LakeError) as error:
                err.print(f"[bold red]fetch failed:[/] {error}", highlight=False, soft_wrap=True)
            slot = next_slot(utcnow(), settings.fetch_interval_seconds)
            console.print(f"next fetch at {iso_z(slot)}")
            stop.wait(max(0.0, (slot - utcnow()).total_seconds()))
    except KeyboardInterrupt:
        console.print("stopped.")
