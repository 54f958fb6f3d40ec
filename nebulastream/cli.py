"""The `nebula` command line: thin commands that parse flags and call the core."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nebulastream.coins import UnknownCoinError, parse_symbols
from nebulastream.curation.local import transform as run_transform
from nebulastream.curation.outputs import VersionedLake
from nebulastream.edge import make_coingecko, make_curation_config, make_engine, make_lake
from nebulastream.ingest import FetchResult, Window, backfill, fetch_spot, plan_backfill
from nebulastream.lake.layout import report_key
from nebulastream.lake.storage import LakeError
from nebulastream.query import EngineError, export, service
from nebulastream.query.service import Interval
from nebulastream.query.views import LakeViews, SqlFailed, SqlRefused
from nebulastream.query.views import Result as SqlResult
from nebulastream.query.views import text as sql_text
from nebulastream.query.views import write as write_result
from nebulastream.server import ApiServer, ServerError
from nebulastream.settings import Settings
from nebulastream.sources.base import SourceError
from nebulastream.timeutil import (
    EARLIEST_DAY,
    TimeFormatError,
    floor_to,
    iso_z,
    parse_time,
    utcnow,
)

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
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
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
        justify: JustifyMethod = "left" if column in ("coin", "observed_at") else "right"
        table.add_column(column, justify=justify, overflow="fold")
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
            f"[yellow]warning:[/] {escape(o.coin)}: {escape(', '.join(problems))} "
            "(stored raw; curation will quarantine it)"
        )
    if result.missing:
        console.print(
            f"[yellow]warning:[/] the source left out {escape(', '.join(result.missing))}"
        )
    if result.kept:
        console.print(
            f"kept the earlier line of this slot for {escape(', '.join(result.kept))}",
            highlight=False,
        )


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
    if lo.date() < EARLIEST_DAY:
        fail(
            f"--start ({iso_z(lo)}) is before {EARLIEST_DAY}: no crypto price is older than "
            "Bitcoin's genesis block.",
            code=2,
        )
    # Whole UTC days keep window keys stable; days after today have no prices yet.
    end_of_today = floor_to(utcnow(), 86400) + timedelta(days=1)
    if lo >= end_of_today:
        fail(f"--start ({iso_z(lo)}) is in the future: there is nothing to load yet.", code=2)
    if hi > end_of_today:
        hi = end_of_today
        console.print(f"--end is after today: loading up to {iso_z(hi)}.")
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
        f"{len(result.skipped)} windows were already stored (lake: {lake.uri})",
        markup=False,
    )


@app.command()
def transform(
    full: Annotated[
        bool, typer.Option("--full", help="Reprocess every raw batch, not only new ones.")
    ] = False,
) -> None:
    """Curate raw batches into Parquet under curated/, with quarantine/ and a report."""
    settings = load_settings()
    try:
        _transform_once(settings, full=full)
    except LakeError as error:
        fail(str(error))


def _transform_once(settings: Settings, *, full: bool = False) -> None:
    """One local curation run over the configured lake, summary printed."""
    lake = make_lake(settings)
    if not isinstance(lake, VersionedLake):
        raise LakeError(f"{lake.uri}: this lake cannot tell which raw batches changed.")
    now = utcnow()
    report = run_transform(lake, config=make_curation_config(settings), now=now, full=full)
    console.print(report.summary(), markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"report: {lake.uri.rstrip('/')}/{report_key(now, report.runner)}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def next_slot(now: datetime, interval: int) -> datetime:
    return floor_to(now, interval) + timedelta(seconds=interval)


HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]
PortOption = Annotated[
    int, typer.Option(min=0, max=65535, help="TCP port of the HTTP API (0: any free port).")
]


def _api_server(settings: Settings, host: str, port: int) -> ApiServer:
    """The API app on the configured engine, built here so a bad setting fails at start."""
    from api.app import app as api_app

    try:
        api_app.state.engine = make_engine(settings)
    except ValueError as error:
        fail(str(error), code=2)
    return ApiServer(api_app, host, port)


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _announce(url: str) -> None:
    console.print(
        f"API on {url}  (dashboard: {url}/dashboard, docs: {url}/docs, "
        f"latest: {url}/prices/latest)",
        markup=False,
        soft_wrap=True,
    )


@app.command()
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """Serve the HTTP API (/prices/latest, /prices/history, /coins, /health, /docs)."""
    settings = load_settings()
    server = _api_server(settings, host, port)
    try:
        server.start()
    except ServerError as error:
        fail(str(error), code=2)
    _announce(server.url)
    console.print("Ctrl-C stops.")
    try:
        while server.thread is not None and server.thread.is_alive():
            server.thread.join(timeout=0.5)
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        server.stop()
    console.print("stopped.")


@dataclass
class PeriodicJob:
    """Something `nebula run` does on a fixed grid of UTC slots (every `seconds`)."""

    name: str
    seconds: int
    action: Callable[[datetime], None]  # called with its slot
    due: datetime | None = None  # None: run at once

    def run_if_due(self, now: datetime) -> None:
        if self.due is not None and now < self.due:
            return
        slot = floor_to(now, self.seconds)
        try:
            self.action(slot)
        finally:
            self.due = next_slot(now, self.seconds)


def run_jobs(jobs: list[PeriodicJob], stop: threading.Event) -> None:
    """Run each job when due until `stop` is set; a job's failure never stops the others."""
    while not stop.is_set():
        for job in jobs:
            try:
                job.run_if_due(utcnow())
            except Exception as error:  # the loop outlives any one run
                err.print(
                    f"[bold red]{escape(job.name)} failed unexpectedly:[/] "
                    f"{escape(f'{type(error).__name__}: {error}')}; trying again at the next slot.",
                    highlight=False,
                    soft_wrap=True,
                )
        due = min(job.due for job in jobs if job.due is not None)
        console.print(f"next: {', '.join(j.name for j in jobs if j.due == due)} at {iso_z(due)}")
        stop.wait(max(0.0, (due - utcnow()).total_seconds()))


@app.command()
def run(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the API.")] = True,
) -> None:
    """Run the pipeline locally: fetch on every slot, curate periodically, serve the API."""
    settings = load_settings()

    def fetch_job(slot: datetime) -> None:
        try:
            _print_fetch(_fetch_once(settings, slot))
        except (SourceError, LakeError) as error:
            err.print(
                f"[bold red]fetch failed:[/] {escape(str(error))}", highlight=False, soft_wrap=True
            )

    def transform_job(slot: datetime) -> None:
        try:
            _transform_once(settings)
        except LakeError as error:
            err.print(
                f"[bold red]transform failed:[/] {escape(str(error))}",
                highlight=False,
                soft_wrap=True,
            )

    # In list order: a slot's fetch lands before the curation run of the same slot.
    jobs = [
        PeriodicJob("fetch", settings.fetch_interval_seconds, fetch_job),
        PeriodicJob("transform", settings.transform_interval_seconds, transform_job),
    ]
    server = _api_server(settings, host, port) if serve_api else None
    if server is not None:
        try:
            server.start()
        except ServerError as error:
            fail(str(error), code=2)
    console.print(
        f"NebulaStream running: fetching {', '.join(settings.coins)} every "
        f"{_duration(settings.fetch_interval_seconds)} into {make_lake(settings).uri}, curating "
        f"every {_duration(settings.transform_interval_seconds)}. Ctrl-C stops.",
        markup=False,
    )
    if server is not None:
        _announce(server.url)
    stop = threading.Event()
    try:
        run_jobs(jobs, stop)
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        if server is not None:
            server.stop()
    console.print("stopped.")


# -- analysis: `nebula sql` and `nebula export` (logic in nebulastream/query/views.py, export.py)

SqlFormat = Literal["table", "csv", "json", "parquet"]
_SUFFIX_FORMATS: dict[str, SqlFormat] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}
_TABLE_ROWS = 1000  # more rows than a terminal can usefully show: write them to a file


def _local_lake(settings: Settings) -> Path:
    if settings.lake_uri.startswith("s3://"):
        fail(
            f"this command reads a local lake folder, not {settings.lake_uri}: query an S3 "
            "lake with Athena (docs/analysis.md), or set NEBULA_LAKE_URI to a folder.",
            code=2,
        )
    return Path(settings.lake_uri).expanduser().resolve()


def _output_path(output: Path, lake: Path) -> Path:
    """Results go anywhere but into the lake: nothing written here may change it."""
    target = output.expanduser().resolve()
    if target.is_relative_to(lake):
        fail(f"--output {output} is inside the lake ({lake}): write results elsewhere.", code=2)
    if not target.parent.is_dir():
        fail(f"--output {output}: the folder {target.parent} does not exist.", code=2)
    return target


def _print_views(views: LakeViews) -> None:
    for info in views.views():
        console.print(f"[bold]{info.name}[/]: {escape(info.description)}", highlight=False)
        table = Table()
        table.add_column("column")
        table.add_column("type")
        for name, kind in info.columns:
            table.add_row(name, kind)
        console.print(table)


def _print_table(result: SqlResult) -> None:
    table = Table(show_lines=False)
    for name in result.columns:
        table.add_column(name, overflow="fold")
    rows = result.rows()
    for row in rows[:_TABLE_ROWS]:
        table.add_row(*("null" if v is None else str(v) for v in row))
    console.print(table)
    more = len(rows) - _TABLE_ROWS
    note = f"; {more:,} more not shown: add --format csv --output FILE" if more > 0 else ""
    console.print(f"{len(rows):,} row(s){note}", markup=False, highlight=False)


@app.command(name="sql")
def sql_command(
    query: Annotated[
        str | None, typer.Argument(help="One SELECT over prices, raw, quarantine.")
    ] = None,
    views: Annotated[
        bool, typer.Option("--views", help="List the views and their columns.")
    ] = False,
    output_format: Annotated[
        SqlFormat | None,
        typer.Option(
            "--format",
            help="table (on a terminal), csv or json (JSON Lines) to stdout or --output, "
            "parquet (needs --output). Default: table on a terminal, csv when piped, "
            "else from --output's suffix.",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write the result to this file.")] = None,
) -> None:
    """Query the local lake with DuckDB SQL over read-only views (see --views)."""
    settings = load_settings()
    lake = _local_lake(settings)
    if not views and not query:
        fail('give a query, e.g. nebula sql "SELECT coin, count(*) FROM prices GROUP BY coin"', 2)
    if output_format is None:
        suffix = output.suffix.lower() if output else ""
        output_format = _SUFFIX_FORMATS.get(suffix) or (
            "table" if output is None and console.is_terminal else "csv"
        )
    if output_format == "parquet" and output is None:
        fail("--format parquet needs --output FILE.", code=2)
    if output_format == "table" and output is not None:
        fail("--format table prints to the terminal: use csv, json or parquet with --output.", 2)
    target = _output_path(output, lake) if output is not None else None
    raw_since = utcnow().date() - timedelta(days=settings.raw_lookback_days)
    try:
        lake_views = LakeViews(lake, raw_since=raw_since)
    except (FileNotFoundError, SqlFailed) as error:
        fail(str(error))
    with lake_views:
        if views:
            _print_views(lake_views)
            return
        assert query is not None
        try:
            result = lake_views.query(query)
        except (SqlRefused, SqlFailed) as error:
            fail(str(error), code=2)
    if output_format == "table":
        _print_table(result)
        return
    if target is None:
        assert output_format != "parquet"  # refused above without --output
        typer.echo(sql_text(result, output_format), nl=False)
        return
    rows = write_result(result, target, output_format)
    err.print(f"wrote {rows:,} row(s) to {target}", markup=False, highlight=False)


@app.command(name="export")
def export_command(
    coin: Annotated[str, typer.Option(help="One symbol, e.g. BTC.")],
    start: Annotated[str, typer.Option(help="Start (inclusive), RFC 3339 or Unix seconds.")],
    end: Annotated[str, typer.Option(help="End (exclusive), RFC 3339 or Unix seconds.")],
    output: Annotated[Path, typer.Option(help="The file to write.")],
    interval: Annotated[Interval, typer.Option(help="Bucket size.")] = Interval.M5,
    file_format: Annotated[
        export.FileFormat | None,
        typer.Option("--format", help="csv or parquet; default from --output's suffix."),
    ] = None,
) -> None:
    """Write /prices/history's buckets for any range to CSV or Parquet (same rows as the API)."""
    settings = load_settings()
    if file_format is None:
        suffix = output.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            fail("give --format csv or --format parquet (or an --output ending in one).", 2)
        file_format = "csv" if suffix == ".csv" else "parquet"
    if not settings.lake_uri.startswith("s3://"):
        _output_path(output, _local_lake(settings))
    now = utcnow()
    try:
        symbol = service.parse_one_coin(coin, settings.known_coin_ids)
        lo, hi = service.resolve_range(start, end, now, settings.fetch_interval_seconds)
    except service.QueryInputError as error:
        fail(str(error).replace(f"{error.parameter}=", f"--{error.parameter} "), code=2)
    try:
        engine = make_engine(settings)
    except ValueError as error:
        fail(str(error), code=2)
    with Progress(
        TextColumn(f"[bold]export[/] {symbol} {interval.value}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pieces"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=len(export.pieces(lo, hi, interval)) < 2,
    ) as progress:
        task = progress.add_task("", total=len(export.pieces(lo, hi, interval)))
        try:
            result = export.long_history(
                engine,
                symbol,
                lo,
                hi,
                interval,
                now,
                settings.raw_lookback_days,
                on_piece=lambda done, _: progress.update(task, completed=done),
            )
        except EngineError as error:
            fail(str(error))
        finally:
            engine.close()
    rows = export.write(result, output, file_format)
    err.print(
        f"wrote {rows:,} {interval.value} bucket(s) of {symbol} over [{iso_z(lo)}, {iso_z(hi)}) "
        f"to {output}",
        markup=False,
        highlight=False,
    )
