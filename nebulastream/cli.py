"""The `nebula` command line: thin commands that parse flags and call the core."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nebulastream import heal
from nebulastream.alerts.edge import Alerts, make_senders, rules_location
from nebulastream.alerts.rules import Rule, RulesError
from nebulastream.alerts.service import channels_for, dry_run, send_test
from nebulastream.coins import UnknownCoinError, parse_symbols
from nebulastream.curation.duckdb_engine import transform as run_transform
from nebulastream.curation.outputs import VersionedLake
from nebulastream.edge import (
    SourcePool,
    make_curation_config,
    make_engine,
    make_history_source,
    make_lake,
    make_spot_source,
    source_options,
)
from nebulastream.ingest import FetchResult, Window, backfill, fetch_spot, plan_backfill
from nebulastream.lake.layout import report_key
from nebulastream.lake.storage import LakeError
from nebulastream.query import EngineError, export, service
from nebulastream.query.service import Interval
from nebulastream.query.views import LakeViews, SqlFailed, SqlRefused
from nebulastream.query.views import Result as SqlResult
from nebulastream.query.views import text as sql_text
from nebulastream.query.views import write as write_result
from nebulastream.ranges import RangeRuleError, backfill_range, check_order
from nebulastream.scheduler import PeriodicJob, run_jobs
from nebulastream.server import ApiServer, ServerError
from nebulastream.settings import ConfigurationError, Settings
from nebulastream.sources import registry
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
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# The one mapping from the core's errors to exit codes, applied by `command` to every command:
# 2 = what the user gave is wrong (flags, settings, a busy port): fix it and re-run;
# 1 = the outside world failed (the source, the lake): re-run later. Anything else is a bug and
# keeps its traceback.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ConfigurationError, 2),
    (UnknownCoinError, 2),
    (TimeFormatError, 2),
    (RangeRuleError, 2),
    (registry.UnknownSourceError, 2),
    (ServerError, 2),
    (SourceError, 1),
    (LakeError, 1),
)
_MAPPED = tuple(kind for kind, _ in EXIT_CODES)
INTERRUPTED = 130

P = ParamSpec("P")
R = TypeVar("R")


def command(
    name: str | None = None, *, resume: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """`app.command` with the error mapping: a core error (EXIT_CODES) or Ctrl-C ends the
    command with one line on stderr and its exit code. `resume` is added to a failure of the
    outside world and to Ctrl-C: what was kept and how to go on."""

    def register(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except _MAPPED as error:
                code = next(code for kind, code in EXIT_CODES if isinstance(error, kind))
                suffix = f" {resume}" if resume and code == 1 else ""
                fail(f"{error}{suffix}", code)
            except KeyboardInterrupt:
                fail(f"interrupted. {resume}" if resume else "interrupted.", INTERRUPTED)

        app.command(name)(run)
        return run

    return register


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
        raise ConfigurationError(f"invalid settings: {reasons}") from None


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


def _progress(
    title: str,
    unit: str,
    *,
    to: Console = console,
    transient: bool = False,
    disable: bool = False,
) -> Progress:
    """The CLI's progress bar for long work: title, bar, done/total `unit`, time left."""
    return Progress(
        TextColumn(title),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeRemainingColumn(),
        console=to,
        transient=transient,
        disable=disable,
    )


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
    source = make_spot_source(settings)
    with source.client:
        return fetch_spot(source, make_lake(settings), slot=slot, now=now)


@command()
def fetch() -> None:
    """Fetch current prices once into the raw zone (one batch per 5-minute slot)."""
    settings = load_settings()
    alerts = _alerts(settings)
    try:
        result = _fetch_once(settings)
    except (SourceError, LakeError):
        _after_fetch(alerts)  # a failing source is what `stale` rules are for
        raise
    _print_fetch(result)
    _after_fetch(alerts)


@command("backfill", resume="Windows done so far are kept; re-run the same command to resume.")
def backfill_command(
    start: Annotated[
        str, typer.Option(help="Start, RFC 3339 (2026-11-01T00:00:00Z) or Unix seconds.")
    ],
    end: Annotated[str, typer.Option(help="End (exclusive), RFC 3339 or Unix seconds.")],
    coins: Annotated[
        str | None, typer.Option(help="Comma-separated symbols; default NEBULA_COINS.")
    ] = None,
    source_name: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="A source from `nebula sources` (coinbase, bitstamp, coingecko); default: the "
            "first in NEBULA_SOURCE_PRIORITY serving past 5-minute data.",
        ),
    ] = None,
) -> None:
    """Load history in one-day windows per coin; resumable, re-runs store nothing twice."""
    settings = load_settings()
    spec = (
        registry.spec(source_name)
        if source_name
        else registry.default_backfill(settings.source_priority)
    )
    lo, hi = parse_time(start), parse_time(end)
    until = backfill_range(lo, hi, utcnow(), "--start", "--end")
    if until < hi:
        console.print(f"--end is after today: loading up to {iso_z(until)}.")
    symbols = parse_symbols(coins) if coins else settings.coins
    source = make_history_source(settings, spec.name, symbols, deadline=120.0)
    listed, unlisted = registry.split_listed(symbols, source.symbols)
    for symbol in unlisted:
        err.print(
            f"[yellow]warning:[/] {escape(spec.name)} does not list {escape(symbol)}; "
            "skipped for this source (see `nebula sources`).",
            highlight=False,
            soft_wrap=True,
        )
    if not listed:
        source.client.close()
        raise ConfigurationError(
            f"{spec.name} lists none of {', '.join(symbols)}; choose another --source "
            "(`nebula sources` lists each source's coins)."
        )
    lake = make_lake(settings)
    windows = plan_backfill(source.name, listed, lo, until, kind=spec.window_kind)
    with (
        _progress(f"[bold]backfill {spec.name}[/] {{task.description}}", "windows") as progress,
        source.client,
    ):
        task = progress.add_task("", total=len(windows))

        def advance(window: Window, points: int | None) -> None:
            state = "already stored" if points is None else f"{points} points"
            progress.update(
                task, advance=1, description=f"{window.coin} {window.start:%Y-%m-%d} ({state})"
            )

        result = backfill(source, lake, windows, now=utcnow, on_window=advance)
    console.print(
        f"stored {result.points} points in {len(result.stored)} batches; "
        f"{len(result.skipped)} windows were already stored (lake: {lake.uri})",
        markup=False,
    )


def _print_heal_plan(requests: list[heal.Request], pieces: list[heal.Piece]) -> None:
    table = Table(title="heal plan (first choice per gap)", title_justify="left")
    for column in ("source", "coin", "range", "missing slots"):
        table.add_column(column, overflow="fold")
    for request in requests:
        span = f"{iso_z(request.start)} .. {iso_z(request.end)}"
        table.add_row(request.source, request.coin, span, str(request.missing_slots))
    console.print(table)
    unserved = sum(1 for p in pieces if not any(p in r.pieces for r in requests))
    console.print(
        f"{len(requests)} request(s) planned for {sum(len(p.slots()) for p in pieces)} missing "
        f"slot(s); slots a source leaves empty are asked of the next source"
        + (f"; {unserved} piece(s) no source lists" if unserved else "")
        + ". Nothing was fetched (--dry-run).",
        markup=False,
        highlight=False,
    )


def _print_heal(result: heal.HealResult) -> None:
    table = Table(title="heal", title_justify="left")
    for column in ("coin", "gaps before", "missing before", "filled", "still missing", "reason"):
        justify: JustifyMethod = "left" if column in ("coin", "reason") else "right"
        table.add_column(column, justify=justify, overflow="fold")
    for outcome in result.coins.values():
        reasons = "\n".join(f"{n} slot(s): {why}" for why, n in outcome.reasons.items())
        table.add_row(
            outcome.coin,
            str(outcome.gaps),
            str(outcome.missing_before),
            str(outcome.filled),
            str(outcome.still_missing),
            reasons or "-",
        )
    console.print(table)
    console.print(
        f"{result.requests} request(s) made ({result.planned} planned), "
        f"{len(result.batches)} raw batch(es) stored, {len(result.given_up)} slot(s) newly "
        "recorded as unrecoverable",
        markup=False,
        highlight=False,
    )
    for error in result.errors:
        _warn(error)


def _heal_once(
    settings: Settings,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    coins: list[str] | None = None,
    dry_run: bool = False,
    retry_unrecoverable: bool = False,
    show_progress: bool = True,
) -> heal.HealResult | None:
    """Find the missing slots, refetch them, curate the touched days; None for a dry run."""
    now = utcnow()
    symbols = coins or settings.coins
    lake = make_lake(settings)
    engine = make_engine(settings)
    try:
        coverages = service.coverage(engine, now, settings.raw_lookback_days, coins=symbols)
    finally:
        engine.close()
    pool = SourcePool(settings, deadline=120.0)
    try:
        job = heal.Job(
            coverages,
            symbols,
            heal.chains(settings.ranked_sources, pool.listed),
            now,
            start,
            end,
            retry_unrecoverable,
        )
        if dry_run:
            _print_heal_plan(*job.plan(lake))
            return None
        with _progress(
            "[bold]heal[/] {task.description}", "requests", disable=not show_progress
        ) as bar:
            task = bar.add_task("", total=None)

            def advance(request: heal.Request, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=heal.describe(request))

            result = job.run(lake, pool.fetch, on_request=advance)
    finally:
        pool.close()
    if result.batches:
        _transform_once(settings)  # the one pipeline curates the days the batches touch
    _print_heal(result)
    if empty := [c for c in symbols if c not in coverages]:
        _warn(
            f"nothing is stored for {', '.join(empty)} yet, so there is no gap to heal: gaps "
            "count from a coin's first observation. Run `nebula fetch` (or `nebula run`), or "
            "load history with `nebula backfill --start T --end T`, first."
        )
    return result


def _heal_job(settings: Settings) -> None:
    _heal_once(settings, show_progress=False)


@command("heal", resume="Slots filled so far are kept; re-run `nebula heal` to go on.")
def heal_command(
    start: Annotated[
        str | None, typer.Option(help="Heal from here, RFC 3339 or Unix seconds; default: all.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Up to here (exclusive); default: now.")] = None,
    coins: Annotated[
        str | None, typer.Option(help="Comma-separated symbols; default NEBULA_COINS.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and its request count only.")
    ] = False,
    retry_unrecoverable: Annotated[
        bool,
        typer.Option(
            "--retry-unrecoverable", help="Ask again for slots recorded as unrecoverable."
        ),
    ] = False,
) -> None:
    """Find missing 5-minute slots and refetch them from the best source that still has them."""
    settings = load_settings()
    lo = parse_time(start) if start else None
    hi = parse_time(end) if end else None
    if lo is not None and hi is not None:
        check_order(lo, hi, "--start", "--end")
    _heal_once(
        settings,
        start=lo,
        end=hi,
        coins=parse_symbols(coins) if coins else None,
        dry_run=dry_run,
        retry_unrecoverable=retry_unrecoverable,
    )


@command("sources")
def sources_command() -> None:
    """List the registered sources: what each serves, its coins, limits, API root and terms."""
    settings = load_settings()
    priority = settings.source_priority
    table = Table(title="sources (NEBULA_SOURCE_PRIORITY order first)", title_justify="left")
    for column in ("source", "serves", "coins", "limits", "base URL"):
        table.add_column(column, overflow="fold")
    ordered = [registry.spec(n) for n in settings.ranked_sources]
    spot = registry.default_spot(priority).name
    backfill_default = registry.default_backfill(priority).name
    for spec in ordered:
        options = source_options(settings, spec.name, list(settings.known_coin_ids))
        listed = spec.symbols(options)
        serves = [
            *(["spot prices"] if spec.spot else []),
            "5-minute candles, any past day"
            if spec.past_five_minute
            else "history (CoinGecko grid)",
        ]
        roles = [
            r
            for r, n in (("fetch", spot), ("backfill default", backfill_default))
            if n == spec.name
        ]
        marked = [f"{c}*" if c in settings.coins else c for c in listed]
        table.add_row(
            f"{spec.name}\n{spec.title}" + (f"\n({', '.join(roles)})" if roles else ""),
            "\n".join(serves),
            " ".join(marked),
            f"{spec.per_request}; {spec.rate_per_second:g} requests/s from here",
            options.base_url,
        )
    console.print(table)
    console.print("* a configured coin (NEBULA_COINS)", highlight=False)
    for spec in ordered:
        console.print(f"{spec.name}: {spec.terms}", markup=False, highlight=False, soft_wrap=True)


@command()
def transform(
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild every curated day from raw.")
    ] = False,
    wait: Annotated[
        float,
        typer.Option(min=0, help="Seconds to wait for another curation run on the lake to finish."),
    ] = 60.0,
) -> None:
    """Curate raw batches into Parquet under curated/, with quarantine/ and a report."""
    _transform_once(load_settings(), full=full, wait_seconds=wait)


def _warn(line: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


def _transform_once(settings: Settings, *, full: bool = False, wait_seconds: float = 60.0) -> None:
    """One local curation run over the configured lake, summary printed."""
    lake = make_lake(settings)
    if not isinstance(lake, VersionedLake):
        raise LakeError(f"{lake.uri}: this lake cannot tell which raw batches changed.")
    now = utcnow()
    report = run_transform(
        lake,
        config=make_curation_config(settings),
        now=now,
        full=full,
        wait_seconds=wait_seconds,
        warn=_warn,
    )
    console.print(report.summary(), markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"report: {lake.uri.rstrip('/')}/{report_key(now, report.runner)}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]
PortOption = Annotated[
    int, typer.Option(min=0, max=65535, help="TCP port of the HTTP API (0: any free port).")
]


def _api_server(settings: Settings, host: str, port: int) -> ApiServer:
    """The API app on the configured engine, built here so a bad setting fails at start."""
    from api.app import app as api_app

    api_app.state.engine = make_engine(settings)
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


@command()
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """Serve the HTTP API (/prices/latest, /prices/history, /coins, /health, /docs)."""
    server = _api_server(load_settings(), host, port)
    server.start()
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


def _report_failure(job: PeriodicJob, error: Exception) -> None:
    """A job's failure, as `nebula run` shows it; the loop goes on."""
    if isinstance(error, _MAPPED):
        message = f"[bold red]{escape(job.name)} failed:[/] {escape(str(error))}"
    else:  # a bug: say so, with the type, and keep running
        message = (
            f"[bold red]{escape(job.name)} failed unexpectedly:[/] "
            f"{escape(f'{type(error).__name__}: {error}')}; trying again at the next slot."
        )
    err.print(message, highlight=False, soft_wrap=True)


def _report_next(jobs: list[PeriodicJob], due: datetime) -> None:
    console.print(f"next: {', '.join(j.name for j in jobs)} at {iso_z(due)}")


@command()
def run(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the API.")] = True,
) -> None:
    """Run the pipeline locally: fetch on every slot, curate periodically, serve the API."""
    settings = load_settings()
    alerts = _alerts(settings)

    def fetch_job(slot: datetime) -> None:
        try:
            _print_fetch(_fetch_once(settings, slot))
        finally:
            _after_fetch(alerts, keep=True)  # stored or failed: `stale` rules need both

    # In list order: a slot's fetch lands before the curation run of the same slot.
    jobs = [
        PeriodicJob("fetch", settings.fetch_interval_seconds, fetch_job),
        PeriodicJob(
            "transform",
            settings.transform_interval_seconds,
            lambda slot: _transform_once(settings),
        ),
        # After the curation run of the same slot: it finds gaps on curated days.
        PeriodicJob(
            "heal",
            settings.heal_interval_seconds,
            lambda slot: _heal_job(settings),
        ),
    ]
    server = _api_server(settings, host, port) if serve_api else None
    if server is not None:
        server.start()
    console.print(
        f"NebulaStream running: fetching {', '.join(settings.coins)} every "
        f"{_duration(settings.fetch_interval_seconds)} into {make_lake(settings).uri}, curating "
        f"every {_duration(settings.transform_interval_seconds)}, healing gaps every "
        f"{_duration(settings.heal_interval_seconds)}. Ctrl-C stops.",
        markup=False,
    )
    if server is not None:
        _announce(server.url)
    stop = threading.Event()
    try:
        run_jobs(jobs, stop.wait, on_failure=_report_failure, on_next=_report_next)
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        if server is not None:
            server.stop()
        if alerts is not None:
            alerts.close()
    console.print("stopped.")


# -- alerts -------------------------------------------------------------------------------

alerts_app = typer.Typer(help="Price alerts: rules in alerts.yml (docs/alerts.md).")
app.add_typer(alerts_app, name="alerts")


def _emit(text: str) -> None:
    console.print(f"[bold magenta]{escape(text)}[/]", highlight=False, soft_wrap=True)


def _alerts(settings: Settings) -> Alerts | None:
    """The alert parts, or None when the lake itself is unusable (the fetch says why)."""
    try:
        return Alerts(settings, make_lake(settings), make_senders(settings, emit=_emit))
    except LakeError:
        return None


def _alerts_or_fail(settings: Settings) -> Alerts:
    try:
        return Alerts(settings, make_lake(settings), make_senders(settings, emit=_emit))
    except LakeError as error:
        fail(str(error), code=2)


def _after_fetch(alerts: Alerts | None, *, keep: bool = False) -> None:
    """Evaluate the rules on what the fetch stored; alert trouble never fails the fetch.

    The query engine is released afterwards unless `keep` (nebula run reuses it every slot).
    """
    if alerts is None:
        return
    try:
        run = alerts.after_fetch(now=utcnow(), owner=f"cli-{os.getpid()}")
    finally:
        if not keep:
            alerts.close()
    if run is None:
        return
    for firing in run.fired:
        if "console" not in firing.channels:  # the console channel printed it already
            console.print(
                f"alert {firing.id} fired -> {', '.join(firing.channels)}: {firing.text}",
                markup=False,
                highlight=False,
            )
    for fid, channel, reason in run.failed:
        err.print(
            f"[yellow]warning:[/] alert {escape(fid)} not delivered to {channel}: "
            f"{escape(reason)} (retried after the next fetch)",
            highlight=False,
            soft_wrap=True,
        )


def _rules_or_fail(alerts: Alerts) -> list[Rule]:
    try:
        rules = alerts.rules()
    except RulesError as error:
        fail(str(error), code=2)
    if not rules:
        location, _ = rules_location(alerts.settings)
        fail(f"no alert rules: create {location} or set NEBULA_ALERTS_FILE (docs/alerts.md).", 2)
    return rules


@alerts_app.command("check")
def alerts_check() -> None:
    """Evaluate every rule once on the lake and print what would fire; nothing is sent."""
    settings = load_settings()
    alerts = _alerts_or_fail(settings)
    rules = _rules_or_fail(alerts)
    now = utcnow()
    try:
        outcome, readings = dry_run(rules, alerts.store, alerts.reader(), list(alerts.senders), now)
    except (EngineError, LakeError, ValueError) as error:
        fail(str(error))
    finally:
        alerts.close()
    table = Table(title=f"alert rules at {iso_z(now)}", title_justify="left")
    for column in ("rule", "condition", "value", "state", "would fire", "channels"):
        table.add_column(column, overflow="fold")
    fired = {f.rule: f for f in outcome.firings}
    for rule in rules:
        state = outcome.state.rules[rule.name]
        value = "no data" if readings.get(rule.name) is None else f"{state.last_value:,.8g}"
        table.add_row(
            rule.name,
            rule.describe(),
            value,
            state.status,
            "yes" if rule.name in fired else "no",
            ", ".join(channels_for([rule], list(alerts.senders))[rule.name]),
        )
    console.print(table)
    for firing in outcome.firings:
        console.print(f"would fire: {firing.text}", markup=False, highlight=False)


@alerts_app.command("test")
def alerts_test(name: Annotated[str, typer.Argument(help="The rule's name.")]) -> None:
    """Send a test message (marked as a test) to the rule's channels."""
    settings = load_settings()
    alerts = _alerts_or_fail(settings)
    rules = {rule.name: rule for rule in _rules_or_fail(alerts)}
    if name not in rules:
        fail(f"no rule named {name!r}; rules: {', '.join(rules)}.", code=2)
    now = utcnow()
    try:
        reading = alerts.reader()([rules[name]], now).get(name)
    except (EngineError, LakeError) as error:
        err.print(f"[yellow]warning:[/] {escape(str(error))}; sending without a current value")
        reading = None
    finally:
        alerts.close()
    results = send_test(rules[name], reading, alerts.senders, now)
    for channel, problem in results.items():
        if problem is None:
            console.print(f"sent a test message to {channel}", markup=False)
        else:
            err.print(f"[bold red]{channel} failed:[/] {escape(problem)}", soft_wrap=True)
    if any(problem is not None for problem in results.values()):
        raise typer.Exit(1)


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


@command("sql")
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


@command("export")
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
    source: Annotated[
        str,
        typer.Option(help="best (each slot from the first source by priority) or a source name."),
    ] = "best",
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
        sources = service.parse_source(source, settings.ranked_sources)
    except service.QueryInputError as error:
        fail(str(error).replace(f"{error.parameter}=", f"--{error.parameter} "), code=2)
    try:
        engine = make_engine(settings)
    except ValueError as error:
        fail(str(error), code=2)
    pieces = len(export.pieces(lo, hi, interval))
    with _progress(
        f"[bold]export[/] {symbol} {interval.value}",
        "pieces",
        to=err,
        transient=True,
        disable=pieces < 2,
    ) as progress:
        task = progress.add_task("", total=pieces)
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
                sources=sources,
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
