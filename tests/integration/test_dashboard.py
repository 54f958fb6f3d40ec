"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, on `nebula serve`.

The server is the real `nebula serve` subprocess over a lake of real files (dashboard_lake.py:
curated Parquet, raw JSON Lines batches, a gap, a stale coin, a coin without data).
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import (
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Route,
    expect,
    sync_playwright,
)

from nebulastream.alerts.edge import Alerts, make_senders
from nebulastream.lake.storage import LocalLake
from nebulastream.settings import Settings
from nebulastream.timeutil import floor_to, parse_time, utcnow
from tests.integration import dashboard_lake
from tests.integration.dashboard_lake import CONFIGURED, WITH_DATA, FixtureLake
from tests.lake_fixtures import Row, write_curated

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dashboard")]

NEBULA = Path(sys.executable).parent / "nebula"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FETCH_INTERVAL = 300
RANGES = {  # what the page promises: range -> (API interval, bucket, span)
    "1D": ("5m", timedelta(minutes=5), timedelta(days=1)),
    "7D": ("1h", timedelta(hours=1), timedelta(days=7)),
    "30D": ("4h", timedelta(hours=4), timedelta(days=30)),
    "1Y": ("1d", timedelta(days=1), timedelta(days=365)),
}

if not CHROMIUM.exists():  # `make test` installs it; say how when run some other way
    pytest.skip(
        "Chromium is missing: `make test` installs Debian's package "
        "(apt-get install -y --no-install-recommends chromium).",
        allow_module_level=True,
    )


# ------------------------------------------------------------------------------ the server


@dataclass
class Server:
    url: str
    lake: FixtureLake
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(lake: FixtureLake, log_path: Path) -> Server:
    """`nebula serve` on a free loopback port, as a user starts it; returns once /health answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEBULA_", "AWS_"))}
    env |= {
        "NEBULA_LAKE_URI": str(lake.root),
        "NEBULA_COINS": ",".join(CONFIGURED),
        "NEBULA_FETCH_INTERVAL_SECONDS": str(FETCH_INTERVAL),
    }
    port = _free_port()
    log: IO[bytes] = log_path.open("wb")
    process = subprocess.Popen(
        [str(NEBULA), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            log.close()
            pytest.fail(f"nebula serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            httpx.get(f"{url}/health", timeout=2)  # any answer will do: a broken lake says 503
            break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"nebula serve did not answer within 30 s:\n{log_path.read_text()}")
        time.sleep(0.1)
    return Server(url, lake, process, log_path)


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("dashboard")
    lake = dashboard_lake.build(root / "lake", utcnow())
    _fire_alerts(lake, root / "alerts.yml")
    running = _serve(lake, root / "serve.log")
    yield running
    _stop(running)


def _fire_alerts(lake: FixtureLake, rules_file: Path) -> None:
    """Rules beside the lake (where `nebula serve` finds them), evaluated once as a fetch
    would: BTC's newest price is above its rule, SOL is 3 h stale, ETH is nowhere near 1 USD."""
    btc = lake.latest("BTC")
    assert btc is not None
    rules_file.write_text(
        "rules:\n"
        f"  - {{name: btc-high, coin: BTC, above: {btc.price * 0.99:.2f}}}\n"
        "  - {name: eth-low, coin: ETH, below: 1}\n"
        "  - {name: sol-stale, coin: SOL, stale_for: 1h}\n"
    )
    settings = Settings(lake_uri=str(lake.root), coins=list(CONFIGURED))
    alerts = Alerts(settings, LocalLake(lake.root), make_senders(settings, emit=lambda _: None))
    run = alerts.after_fetch(now=lake.now, owner="dashboard-fixture")
    assert run is not None and sorted(f.rule for f in run.fired) == ["btc-high", "sol-stale"]
    alerts.close()


# ------------------------------------------------------------------------------ the browser


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@dataclass
class Dashboard:
    """One page in a fresh Chromium profile, with what it logged and requested."""

    page: Page
    base: str
    problems: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def open(self, path: str = "/dashboard") -> None:
        self.page.goto(f"{self.base}{path}")
        self.settled()

    def settled(self, state: str = "ready") -> None:
        expect(self.page.locator("#chart")).to_have_attribute("data-state", state)

    def history_calls(self) -> list[dict[str, str]]:
        calls = []
        for request in self.requests:
            parts = urlsplit(request.url)
            if parts.path.endswith("/prices/history"):
                calls.append({k: v[0] for k, v in parse_qs(parts.query).items()})
        return calls

    def chart_points(self) -> int:
        return int(self.page.locator("#chart").get_attribute("data-points") or -1)

    def chart_breaks(self) -> int:
        return int(self.page.locator("#chart").get_attribute("data-breaks") or -1)


@pytest.fixture
def dashboard(playwright: Playwright, server: Server, tmp_path: Path) -> Iterator[Dashboard]:
    with _browse(playwright, server.url, tmp_path) as board:
        yield board


@contextmanager
def _browse(playwright: Playwright, base: str, tmp_path: Path) -> Iterator[Dashboard]:
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile",  # a fresh user-data dir: cold cache, no state from other tests
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 820},
        timezone_id="UTC",
    )
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(15_000)
    board = Dashboard(page, base)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            board.problems.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: board.problems.append(f"page error: {error}"))
    page.on("request", lambda request: board.requests.append(request))
    yield board
    context.close()


def _expected_buckets(lake: FixtureLake, coin: str, call: dict[str, str]) -> list[int]:
    _, step, _ = next(v for v in RANGES.values() if v[0] == call["interval"])
    return lake.buckets(coin, parse_time(call["start"]), parse_time(call["end"]), step)


def _breaks(buckets: list[int], step: timedelta) -> int:
    """Line breaks the chart must show: one per run of missing buckets between two points."""
    seconds = step.total_seconds()
    return sum(1 for a, b in pairwise(buckets) if b - a > seconds)


def _wait_until_served(server: Server, coin: str, price: float) -> None:
    """Until the server answers with the new fetch (it re-lists the lake about once a second)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        body = httpx.get(f"{server.url}/prices/latest", params={"coin": coin}).json()
        if body["prices"] and body["prices"][0]["price_usd"] == price:
            return
        time.sleep(0.2)
    pytest.fail(f"nebula serve never answered the new {coin} price {price}")


def _money(value: float) -> str:
    return f"${value:,.2f}"


# ------------------------------------------------------------------------------ the tests


def test_cards_show_each_coins_latest_price_24h_change_and_age_marking_stale_and_empty(
    server: Server, dashboard: Dashboard, record_property: pytest.RecordProperty
) -> None:
    page = dashboard.page
    dashboard.open()

    for coin in ("BTC", "ETH"):
        row = server.lake.latest(coin)
        assert row is not None and row.change_24h_pct is not None
        card = page.locator(f'.card[data-coin="{coin}"]')
        expect(card.locator(".price")).to_have_text(_money(row.price))
        arrow = "▲" if row.change_24h_pct > 0 else "▼"
        expect(card.locator(".change")).to_contain_text(f"{arrow} ")
        expect(card.locator(".change")).to_contain_text(f"{abs(row.change_24h_pct):.2f}% 24h")
        expect(card.locator(".age")).to_have_text(
            re.compile(rf"^(just now|\d+ min ago) · {row.ts:%H:%M} UTC$")
        )
        expect(card.locator(".badge")).to_be_hidden()

    sol = server.lake.latest("SOL")
    assert sol is not None
    card = page.locator('.card[data-coin="SOL"]')
    expect(card.locator(".price")).to_have_text(_money(sol.price))
    expect(card).to_have_class(re.compile(r"\bstale\b"))
    expect(card.locator(".badge")).to_have_text("stale")
    expect(card.locator(".age")).to_contain_text("3 h")
    expect(card).to_have_attribute("title", re.compile("fetches run every 5 min"))

    # each card's completeness line is /coins' figures (floored to 0.01 %), gaps in its title
    coins = {c["coin"]: c for c in httpx.get(f"{server.url}/coins").json()["coins"]}
    for coin in WITH_DATA:
        c = coins[coin]
        line = page.locator(f'.card[data-coin="{coin}"] .coverage')
        share = math.floor(c["completeness"] * 10000) / 100
        gaps = c["gaps"]
        assert gaps > 0  # the fixture's gap, and its hourly history between 5-minute slots
        expect(line).to_have_text(f"{share:.2f}% complete · {gaps} gap{'' if gaps == 1 else 's'}")
        expect(line).to_have_attribute("title", re.compile(rf"^{c['missing_slots']} missing"))
        expect(line).to_have_class(re.compile(r"\bgappy\b"))

    doge = page.locator('.card[data-coin="DOGE"]')
    expect(doge.locator(".coverage")).not_to_have_attribute("data-gaps", re.compile("."))
    expect(doge.locator(".price")).to_have_text("No prices yet")
    expect(page.locator(".card")).to_have_count(len(CONFIGURED))
    expect(page.locator('.card[data-coin="BTC"]')).to_have_attribute("aria-selected", "true")

    # Nothing from any other host, nothing failed, nothing logged.
    hosts = {urlsplit(r.url).netloc for r in dashboard.requests if not r.url.startswith("data:")}
    assert hosts == {urlsplit(server.url).netloc}
    assert [r.url for r in dashboard.requests if not (r.response() and r.response().ok)] == []
    assert dashboard.problems == []

    # Measurements for the report: bytes on the wire for the cold load, time to first chart.
    sizes = [r.sizes() for r in dashboard.requests]
    transferred = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
    first_chart = page.evaluate("performance.getEntriesByName('nebula:first-chart')[0].startTime")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page.mouse.move(1040, 520)  # hover the chart so the screenshot shows the readout too
    page.screenshot(path=shot, full_page=True)
    for line in (
        f"dashboard screenshot: {shot}",
        f"dashboard page weight: {transferred / 1024:.1f} KB transferred in "
        f"{len(sizes)} requests (cold cache)",
        f"dashboard time to first chart: {first_chart:.0f} ms after navigation start",
    ):
        print(line)
        record_property("report", line)


def test_chart_holds_one_point_per_stored_bucket_and_breaks_its_line_at_gaps(
    server: Server, dashboard: Dashboard
) -> None:
    dashboard.open()

    [call] = dashboard.history_calls()
    assert (call["coin"], call["interval"]) == ("BTC", "5m")
    buckets = _expected_buckets(server.lake, "BTC", call)
    step = RANGES["1D"][1]
    assert len(buckets) > 200  # the fixture's last day: 5-minute fetches less a 2-hour gap
    assert dashboard.chart_points() == len(buckets)
    assert _breaks(buckets, step) == 1  # the 2-hour gap in the fixture
    assert dashboard.chart_breaks() == 1
    expect(dashboard.page.locator("#readout")).to_contain_text(f"{len(buckets)} 5-minute buckets")
    assert dashboard.problems == []


def test_switching_coin_and_range_asks_the_api_for_that_coin_range_and_interval(
    server: Server, dashboard: Dashboard
) -> None:
    page = dashboard.page
    dashboard.open()
    steps = [  # (what the user clicks, the coin and range it should show)
        ('.card[data-coin="ETH"]', "ETH", "1D"),
        ('#ranges [data-range="7D"]', "ETH", "7D"),
        ('#ranges [data-range="30D"]', "ETH", "30D"),
        ('#ranges [data-range="1Y"]', "ETH", "1Y"),
        ('.card[data-coin="SOL"]', "SOL", "1Y"),
    ]
    for target, coin, range_ in steps:
        before = len(dashboard.history_calls())
        with page.expect_response(re.compile(r"/prices/history\?")):
            page.click(target)
        dashboard.settled()

        [call] = dashboard.history_calls()[before:]
        interval, step, span = RANGES[range_]
        start, end = parse_time(call["start"]), parse_time(call["end"])
        assert (call["coin"], call["interval"]) == (coin, interval)
        assert end - start == span
        assert end.timestamp() % step.total_seconds() == 0  # buckets line up with the API's
        # ... and include the bucket in progress (give or take a boundary passing meanwhile).
        assert -timedelta(seconds=30) < end - datetime.now(UTC) <= step
        buckets = _expected_buckets(server.lake, coin, call)
        assert dashboard.chart_points() == len(buckets)
        assert dashboard.chart_breaks() == _breaks(buckets, step)
        expect(page.locator(f'#ranges [data-range="{range_}"]')).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(page.locator("#chart-title")).to_contain_text(coin)

    # The selection lives in the URL, so a reload (or a shared link) shows the same chart.
    assert page.url.endswith("#coin=SOL&range=1Y")
    dashboard.requests.clear()
    page.reload()
    dashboard.settled()
    [call] = dashboard.history_calls()
    assert (call["coin"], call["interval"]) == ("SOL", "1d")
    assert dashboard.problems == []


def test_page_refreshes_every_fetch_interval_and_shows_the_new_fetch(
    server: Server, dashboard: Dashboard
) -> None:
    page = dashboard.page
    page.clock.install()  # the page's timers, under the test's control
    dashboard.open()
    old = server.lake.latest("BTC")
    assert old is not None
    price = page.locator('.card[data-coin="BTC"] .price')
    expect(price).to_have_text(_money(old.price))

    # A retried fetch of the newest slot lands (same key: the batch is replaced).
    new_price = round(old.price * 1.0123, 2)
    slot = old.ts + dashboard_lake.LAG
    server.lake.refetch(slot, {"BTC": new_price}, observed_at=utcnow() - timedelta(seconds=1))
    _wait_until_served(server, "BTC", new_price)
    dashboard.requests.clear()
    # The page's clock also runs on by itself: stop well short of the interval, then pass it.
    page.clock.fast_forward((FETCH_INTERVAL - 30) * 1000)
    page.wait_for_timeout(300)
    assert dashboard.history_calls() == []  # not before the interval is up
    page.clock.fast_forward(30_000)

    expect(price).to_have_text(_money(new_price))
    paths = [urlsplit(r.url).path for r in dashboard.requests]
    assert "/prices/latest" in paths
    [call] = dashboard.history_calls()
    assert (call["coin"], call["interval"]) == ("BTC", "5m")
    dashboard.settled()
    expect(page.locator("#readout")).to_contain_text(_money(new_price))
    assert dashboard.problems == []


def test_a_coin_without_data_says_so_on_its_chart(server: Server, dashboard: Dashboard) -> None:
    page = dashboard.page
    dashboard.open()
    with page.expect_response(re.compile(r"/prices/history\?coin=DOGE")):
        page.click('.card[data-coin="DOGE"]')
    dashboard.settled("empty")
    message = page.locator("#chart-message")
    expect(message).to_contain_text("Nothing is stored for DOGE yet.")
    expect(message).to_contain_text("`nebula backfill --coins DOGE` loads its history")
    assert dashboard.chart_points() == 0
    assert dashboard.problems == []


def test_the_page_and_its_api_calls_stay_under_an_api_gateway_stage_path(
    server: Server, dashboard: Dashboard
) -> None:
    # API Gateway serves the stage at /dev/...; the Lambda strips it (api/stage.py). Here the
    # browser's network layer plays API Gateway in front of the real server.
    page = dashboard.page
    stage = f"{server.url}/dev/"
    page.route(
        f"{stage}**",
        lambda route: route.fulfill(
            response=route.fetch(url=route.request.url.replace(stage, f"{server.url}/", 1))
        ),
    )
    dashboard.open("/dev/dashboard")
    btc = server.lake.latest("BTC")
    assert btc is not None
    expect(page.locator('.card[data-coin="BTC"] .price')).to_have_text(_money(btc.price))
    paths = [urlsplit(r.url).path for r in dashboard.requests]
    assert paths and all(p.startswith("/dev/") for p in paths), paths
    assert {"/dev/dashboard/dashboard.js", "/dev/prices/latest", "/dev/coins"} <= set(paths)
    assert dashboard.problems == []


@pytest.fixture
def broken_server(tmp_path: Path) -> Iterator[tuple[Server, Path, bytes]]:
    """A server whose lake has one curated file of the wrong column types, 200 days back.

    (A file that is not Parquet at all is left out and its day served from raw; one that
    reads but holds text where prices belong fails the query.)
    """
    lake = dashboard_lake.build(tmp_path / "lake", utcnow())
    day = (utcnow() - timedelta(days=200)).strftime("%Y-%m-%d")
    [victim] = (lake.root / "curated" / f"dt={day}").glob("*.parquet")
    good = victim.read_bytes()
    table = pq.read_table(victim)
    wrong = table.set_column(
        table.schema.get_field_index("price_usd"),
        "price_usd",
        pa.array(["not a price"] * table.num_rows),
    )
    pq.write_table(wrong, victim)
    running = _serve(lake, tmp_path / "serve.log")
    yield running, victim, good
    _stop(running)


def test_an_api_failure_is_explained_and_retry_recovers_once_the_lake_is_fixed(
    broken_server: tuple[Server, Path, bytes], dashboard: Dashboard
) -> None:
    server, victim, good = broken_server
    page = dashboard.page
    dashboard.base = server.url
    page.goto(f"{server.url}/dashboard#coin=ETH&range=1Y")
    dashboard.settled("error")
    # Each answer reads the whole year (DOGE has no rows, so /coins looks everywhere): all 503.
    message = page.locator("#chart-message")
    expect(message).to_contain_text("Could not load the coin list: coins answered 503:")
    expect(message).to_contain_text("The query engine could not answer; retry in a moment.")
    expect(message).to_contain_text("request id")

    victim.write_bytes(good)  # the file is repaired (say, by a transform re-run)
    before = len(dashboard.history_calls())
    with page.expect_response(re.compile(r"/prices/history\?coin=ETH")) as answer:
        message.get_by_role("button", name="Retry").click()
    assert answer.value.ok
    dashboard.settled()
    [call] = dashboard.history_calls()[before:]
    assert call["interval"] == "1d"
    assert dashboard.chart_points() == len(_expected_buckets(server.lake, "ETH", call)) == 365
    eth = server.lake.latest("ETH")
    assert eth is not None
    expect(page.locator('.card[data-coin="ETH"] .price')).to_have_text(_money(eth.price))
    expect(page.locator("#banner")).to_be_hidden()
    # The only console entries are the browser's own notes about the failed requests.
    assert dashboard.problems
    assert all("503" in p for p in dashboard.problems), dashboard.problems


# ------------------------------------------------------------------------------ /docs


@pytest.mark.parametrize("prefix", ["", "/dev"])
def test_docs_render_from_this_server_alone_under_a_strict_csp(
    server: Server, dashboard: Dashboard, prefix: str
) -> None:
    page = dashboard.page
    elsewhere: list[str] = []

    def only_this_server(route: Route) -> None:
        url = route.request.url
        if not url.startswith(f"{server.url}/"):
            elsewhere.append(url)  # a CDN, fonts, the public validator: offline, this fails
            route.abort()
        elif prefix and url.startswith(f"{server.url}{prefix}/"):
            # API Gateway's stage path, played by the browser's network layer (as above)
            local = url.replace(f"{server.url}{prefix}/", f"{server.url}/", 1)
            route.fulfill(response=route.fetch(url=local))
        else:
            route.continue_()

    page.route("**/*", only_this_server)
    response = page.goto(f"{server.url}{prefix}/docs")
    assert response is not None and response.ok
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe" not in csp
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    paths = set(operations.all_inner_texts())
    assert {"/prices/latest", "/prices/history", "/coins", "/health"} <= paths
    page.locator(".opblock-summary", has_text="/prices/latest").first.click()
    expect(page.locator(".opblock-body").first).to_contain_text("coin")
    assert elsewhere == []
    requested = [urlsplit(r.url).path for r in dashboard.requests]
    assert f"{prefix}/openapi.json" in requested
    assert all(p.startswith(f"{prefix}/") for p in requested), requested
    # A CSP violation, a missing file or a script error would be a console error.


def test_alert_firings_are_marked_on_the_chart_and_active_alerts_listed(
    server: Server, dashboard: Dashboard
) -> None:
    page = dashboard.page
    dashboard.open()
    # BTC's chart: one mark, at the newest price the rule fired on.
    expect(page.locator("#chart")).to_have_attribute("data-markers", "1")
    panel = page.locator("#alerts-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#alerts-summary")).to_have_text("2 of 3 firing")
    items = page.locator("#alerts li")
    expect(items).to_have_count(3)
    # Active alerts first, each with its condition and when it fired.
    assert [items.nth(i).get_attribute("data-rule") for i in range(3)] == [
        "btc-high",
        "sol-stale",
        "eth-low",
    ]
    firing = page.locator('#alerts li[data-state="firing"]')
    expect(firing).to_have_count(2)
    expect(firing.first).to_contain_text("last fired")
    expect(page.locator('#alerts li[data-rule="eth-low"]')).to_contain_text("has not fired")
    expect(page.locator('#alerts li[data-rule="sol-stale"]')).to_contain_text(
        "SOL has no new price for 1h"
    )
    # SOL's chart marks its stale alert; ETH's has none.
    page.click('.card[data-coin="SOL"]')
    dashboard.settled()
    expect(page.locator("#chart")).to_have_attribute("data-markers", "1")
    page.click('.card[data-coin="ETH"]')
    dashboard.settled()
    expect(page.locator("#chart")).to_have_attribute("data-markers", "0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.click('.card[data-coin="BTC"]')
    dashboard.settled()
    page.screenshot(path=ARTIFACTS / "dashboard-alerts.png", full_page=True)
    assert dashboard.problems == []


# ------------------------------------------------------------------------------ sources


@pytest.fixture(scope="module")
def candle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A lake whose BTC day is Coinbase candles and whose ETH day is CoinGecko points."""
    root = tmp_path_factory.mktemp("candles")
    now = utcnow()
    start = floor_to(now, 300) - timedelta(days=1)
    rows = []
    for i in range(288):
        ts = start + timedelta(minutes=5 * i)
        o = 60_000 + 400 * math.sin(i / 20)
        c = 60_000 + 400 * math.sin((i + 1) / 20)
        rows.append(
            Row(
                "BTC",
                ts,
                c,
                market_cap_usd=None,
                volume_24h_usd=None,
                change_24h_pct=None,
                source="coinbase",
                open_usd=o,
                high_usd=max(o, c) + 30,
                low_usd=min(o, c) - 30,
                span_seconds=300,
                volume_usd=c * 3,
            )
        )
        rows.append(Row("ETH", ts + timedelta(seconds=40), 3_000 + i))
    write_curated(root / "lake", rows)
    lake = FixtureLake(root / "lake", now)
    running = _serve(lake, root / "serve.log")
    yield running
    _stop(running)


def test_a_range_of_candles_is_drawn_as_candles_and_attributed_to_its_source(
    playwright: Playwright, candle_server: Server, tmp_path: Path
) -> None:
    with _browse(playwright, candle_server.url, tmp_path) as board:
        page = board.page
        board.open("/dashboard#coin=BTC&range=1D")
        chart = page.locator("#chart")
        expect(chart).to_have_attribute("data-mode", "candles")
        points = board.chart_points()
        assert points >= 287  # the day's candles (the first may fall before the range)
        expect(chart).to_have_attribute("data-candles", str(points))
        expect(page.locator("#chart-title")).to_contain_text("5-minute candles")
        expect(chart).to_have_attribute("data-sources", "coinbase")
        caption = page.locator("#chart-sources")
        expect(caption).to_have_text("Data: Coinbase Exchange via NebulaStream")
        link = caption.locator("a")
        expect(link).to_have_attribute("href", "https://www.coinbase.com/legal/user_agreement")
        # the footer names every source on the page: the cards' too
        expect(page.locator("#attribution")).to_have_text(
            "Data: CoinGecko, Coinbase Exchange via NebulaStream"
        )
        expect(page.locator('.card[data-coin="BTC"] .coverage')).to_have_text(
            "100.00% complete · 0 gaps"
        )
        expect(page.locator("#legend .candle-keys")).to_be_visible()
        expect(page.locator("#legend .line-keys")).to_be_hidden()
        page.mouse.move(900, 420)
        expect(page.locator("#readout")).to_contain_text("Coinbase Exchange")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "dashboard-candles.png", full_page=True)

        page.locator('.card[data-coin="ETH"]').click()
        expect(chart).to_have_attribute("data-mode", "line")
        board.settled()
        expect(chart).to_have_attribute("data-candles", "0")
        expect(caption).to_have_text("Data: CoinGecko via NebulaStream")
        expect(page.locator("#legend .line-keys")).to_be_visible()
        assert board.problems == []
