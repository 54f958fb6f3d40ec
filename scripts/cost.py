"""The stack's monthly AWS bill at defaults, line by line, from the packaged template.

    npx serverless package --stage dev
    python scripts/cost.py [--template .serverless/cloudformation-template-update-stack.json]

Schedules (fetch rate, Glue trigger and crawler crons), sizes (Lambda memory, Glue workers and
execution class), alarm metrics and the KMS key mode are read from the template; what the
template cannot know (how long a fetch runs, how many API requests you make) is an explicit,
overridable assumption. Prices: us-east-1 list prices, no free tier. docs/cost.md holds the
output (`--write docs/cost.md`; the tests fail if it is stale).
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import re
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_TEMPLATE = Path(".serverless/cloudformation-template-update-stack.json")
HOURS_PER_MONTH = 730  # AWS's billing convention
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
MB = 1024**2
GB = 1024**3
TB = 1024**4

# us-east-1 list prices in USD (aws.amazon.com/<service>/pricing). Re-check before relying on them.
PRICE = {
    "lambda_gb_second_x86": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "http_api_request": 1.00 / 1e6,
    "athena_tb_scanned": 5.00,
    "athena_min_bytes_per_query": 10 * MB,
    "s3_put_list": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "s3_standard_gb_month": 0.023,
    "kms_key_month": 1.00,
    "kms_request": 0.03 / 10_000,
    "glue_dpu_hour": 0.44,
    "glue_flex_dpu_hour": 0.29,
    "glue_crawler_min_minutes": 10,
    "cloudwatch_alarm_metric": 0.10,
    "cloudwatch_logs_gb_ingested": 0.50,
}
GLUE_WORKER_DPU = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0}


# Always-free tiers: permanent, per account (not the 12-month ones of S3 and API Gateway).
ALWAYS_FREE = {
    "lambda_requests": 1_000_000,
    "lambda_gb_seconds": 400_000,
    "cloudwatch_alarm_metrics": 10,
    "cloudwatch_logs_gb": 5,
    "kms_requests": 20_000,
}


@dataclass(frozen=True)
class Assumptions:
    """What the template cannot say. Each is a command-line option (--api-requests-per-day 500)."""

    fetch_seconds: float = 1.5  # one CoinGecko call plus one S3 PUT, cold starts included
    api_requests_per_day: float = 100  # a dashboard refreshed every ~15 minutes
    api_seconds: float = 2.0  # mostly waiting for Athena
    # Lambda bills a cold start's init since August 2025. The packaged API imports in 0.33 s
    # (benchmarks/cold_start_bench.py, with its bytecode; 0.80 s without). An environment is
    # assumed kept this many idle minutes: with requests at random times, the share that find
    # none warm is exp(-requests per minute x minutes), 71% at 100 a day.
    api_init_seconds: float = 0.33
    api_warm_minutes: float = 5.0
    # Without an hourly curate function, each query reads today's raw batches plus this many
    # earlier days of them (NEBULA_RAW_LOOKBACK_DAYS; a value set in the template wins). With it,
    # only the batches past the last curated slot (lake/bound.py).
    api_raw_lookback_days: float = 2
    # Distinct API queries per fetch slot (the dashboard's latest and histories): repeats within
    # a slot reuse Athena's result (no scan, no S3 reads). 0 = never reuse.
    api_distinct_queries_per_slot: float = 6
    curated_days_in_lake: float = 365  # what /coins reads: every curated day file
    parquet_gets_per_file: float = 3  # Athena: footer length, footer, the column chunks
    # The hourly curate function: one incremental run reads the raw partitions around the days
    # it rebuilds (about 2.5 days of batches, 708 GETs measured under moto) in ~10 s, and lists
    # all of raw/ (a year of 5-minute batches is 105,120 objects, 1,000 per LIST).
    curate_seconds: float = 10.0
    curate_days_read: float = 2.5
    curate_raw_objects_listed: float = 105_120
    # The nightly Glue run finds the hourly runs' manifest up to date: Glue 5.0's 1-minute minimum.
    glue_billed_minutes: float = 1.0
    crawler_dpu: float = 2.0  # Glue sizes crawlers itself; each run bills >= 10 minutes
    raw_line_bytes: float = 700  # one coin's JSON line in a raw batch
    log_bytes_per_invocation: float = 2000  # Powertools' JSON lines per Lambda run
    access_log_bytes_per_request: float = 450  # the HTTP API stage's JSON access-log line
    glue_log_mb_per_run: float = 2.0  # Spark driver and executor logs
    kms_requests: float = 10_000  # S3 bucket keys keep KMS calls per month in the thousands
    # The hourly heal (docs/heal.md) on a lake without gaps: read two state objects, no request.
    heal_seconds: float = 1.0


@dataclass(frozen=True)
class Line:
    item: str
    driver: str
    usd: float  # list price
    free_usd: float  # what is left after the always-free tiers


def monthly_runs(expression: str) -> float:
    """Runs a month of an EventBridge/Glue `rate(...)` or `cron(...)` schedule."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        minutes = int(rate[1]) * {"m": 1, "h": 60, "d": 1440}[rate[2][0]]
        return HOURS_PER_MONTH * 60 / minutes
    cron = re.fullmatch(r"cron\((.+)\)", expression)
    if not cron or len(cron[1].split()) != 6:
        raise ValueError(f"{expression!r} is neither rate(...) nor a 6-field cron(...)")
    minute, hour, dom, month, dow, _year = cron[1].split()
    per_day = len(_expand(minute, 0, 59)) * len(_expand(hour, 0, 23))
    # Count matching days over a common year: AWS cron days-of-week are 1-7 = SUN-SAT.
    days = 0
    year = 2026
    for m in _expand(month, 1, 12):
        for d in range(1, calendar.monthrange(year, m)[1] + 1):
            weekday = (calendar.weekday(year, m, d) + 1) % 7 + 1
            if (dom in "?*" or d in _expand(dom, 1, 31)) and (
                dow in "?*" or weekday in _expand(dow, 1, 7)
            ):
                days += 1
    return days * per_day / 12


def _expand(field: str, low: int, high: int) -> set[int]:
    names = {n: i + 1 for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
    values: set[int] = set()
    for part in field.upper().split(","):
        part, _, step = part.partition("/")
        if part in ("*", "?"):
            start, stop = low, high
        elif "-" in part:
            a, b = part.split("-")
            start, stop = int(names.get(a, a)), int(names.get(b, b))
        else:
            start = stop = int(names.get(part, part))
        if step and start == stop:
            stop = high
        values.update(range(start, stop + 1, int(step or 1)))
    return values


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _function(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return props


def _schedule_of(template: dict[str, Any], function_id: str) -> str:
    for rule in _resources(template, "AWS::Events::Rule").values():
        props = rule["Properties"]
        targets = [t["Arn"] for t in props.get("Targets", [])]
        if "ScheduleExpression" in props and {"Fn::GetAtt": [function_id, "Arn"]} in targets:
            expression: str = props["ScheduleExpression"]
            return expression
    raise ValueError(f"no schedule targets {function_id}")


TYPICAL_ROUTE = "history_1d"  # what the per-request cost is modelled on (the heavier of two)


def _raw_batches_read(template: dict[str, Any], a: Assumptions, *, worst: bool) -> float:
    """Raw batches a query reads: those past the last curated slot (hourly curation), or the
    look-back's days of them without an hourly curate function."""
    slot_minutes = 1440 / (
        monthly_runs(_schedule_of(template, "FetchLambdaFunction")) / DAYS_PER_MONTH
    )
    if "CurateLambdaFunction" in template["Resources"]:
        runs_per_day = monthly_runs(_schedule_of(template, "CurateLambdaFunction")) / DAYS_PER_MONTH
        behind = 1440 / runs_per_day / slot_minutes  # slots between two runs
        return behind + 1 if worst else behind / 2 + 1
    api = _function(template, "ApiLambdaFunction")
    lookback = api["Environment"]["Variables"].get("NEBULA_RAW_LOOKBACK_DAYS")
    days = float(lookback) if lookback is not None else a.api_raw_lookback_days
    return (days + (1.0 if worst else 0.5)) * 1440 / slot_minutes


def objects_per_query(
    template: dict[str, Any], a: Assumptions, *, worst: bool = False
) -> dict[str, dict[str, float]]:
    """Objects each route's Athena query reads (curated day files + raw batches) and the
    partitions it lists. latest reads yesterday and today; a one-day history (the default last
    24 hours) spans two days; /coins reads every curated day."""
    raw = _raw_batches_read(template, a, worst=worst)
    hourly = "CurateLambdaFunction" in template["Resources"]
    # The raw side starts at the bound's day: today, or yesterday in the hour after midnight.
    raw_partitions = 1 + 1 / 24 if hourly else a.api_raw_lookback_days + 1
    routes = {"latest": 2.0, "history_1d": 2.0, "coins": a.curated_days_in_lake}
    return {
        route: {
            "curated": curated,
            "raw": raw,
            "objects": curated + raw,
            "partitions_listed": curated + raw_partitions,
        }
        for route, curated in routes.items()
    }


def query_get_requests(route: dict[str, float], a: Assumptions) -> float:
    return route["curated"] * a.parquet_gets_per_file + 2 * route["raw"]


def reuse_fraction(template: dict[str, Any], a: Assumptions) -> float:
    """The share of requests answered from Athena's reused result: beyond the distinct
    queries of a slot, a request within the same slot repeats one of them."""
    slots = monthly_runs(_schedule_of(template, "FetchLambdaFunction")) / DAYS_PER_MONTH
    if a.api_requests_per_day <= 0 or a.api_distinct_queries_per_slot <= 0:
        return 0.0
    return max(0.0, 1 - a.api_distinct_queries_per_slot * slots / a.api_requests_per_day)


def estimate(template: dict[str, Any], a: Assumptions) -> list[Line]:
    """The monthly bill, one line per service."""
    fetch = _function(template, "FetchLambdaFunction")
    api = _function(template, "ApiLambdaFunction")
    fetch_rate = _schedule_of(template, "FetchLambdaFunction")
    fetches = monthly_runs(fetch_rate)
    curate = template["Resources"].get("CurateLambdaFunction", {}).get("Properties")
    curate_rate = _schedule_of(template, "CurateLambdaFunction") if curate else "none"
    curations = monthly_runs(curate_rate) if curate else 0.0
    curate_mb = curate["MemorySize"] if curate else 0
    requests = a.api_requests_per_day * DAYS_PER_MONTH
    coins = len(str(fetch["Environment"]["Variables"]["NEBULA_COINS"]).split(","))
    lines: list[Line] = []

    cold = requests * math.exp(-a.api_requests_per_day / (24 * 60) * a.api_warm_minutes)
    gb_seconds = (
        fetches * a.fetch_seconds * fetch["MemorySize"] / 1024
        + (requests * a.api_seconds + cold * a.api_init_seconds) * api["MemorySize"] / 1024
        + curations * a.curate_seconds * curate_mb / 1024
    )
    invocations = fetches + requests + curations
    lines.append(
        Line(
            "Lambda",
            f"{fetches:,.0f} fetches ({fetch_rate}, {fetch['MemorySize']} MB, "
            f"{a.fetch_seconds:g} s) + {requests:,.0f} API calls ({api['MemorySize']} MB, "
            f"{a.api_seconds:g} s; {cold:,.0f} cold starts, {a.api_init_seconds:g} s init) "
            f"+ {curations:,.0f} curation runs ({curate_rate}, "
            f"{curate_mb} MB, {a.curate_seconds:g} s)",
            gb_seconds * PRICE["lambda_gb_second_x86"] + invocations * PRICE["lambda_request"],
            _over(gb_seconds, ALWAYS_FREE["lambda_gb_seconds"]) * PRICE["lambda_gb_second_x86"]
            + _over(invocations, ALWAYS_FREE["lambda_requests"]) * PRICE["lambda_request"],
        )
    )
    lines.append(Line("EventBridge", "scheduled rule and Glue state-change rule", 0.0, 0.0))
    api_usd = requests * PRICE["http_api_request"]
    lines.append(
        Line(
            "API Gateway (HTTP API)",
            f"{requests:,.0f} requests ({a.api_requests_per_day:g}/day)",
            api_usd,
            api_usd,
        )
    )
    routes = objects_per_query(template, a)
    typical = routes[TYPICAL_ROUTE]
    reuse = reuse_fraction(template, a)
    scans = requests * (1 - reuse)
    scanned = scans * PRICE["athena_min_bytes_per_query"]
    athena_usd = scanned / TB * PRICE["athena_tb_scanned"]
    lines.append(
        Line(
            "Athena",
            f"{scans:,.0f} queries scanned ({reuse:.0%} of {requests:,.0f} reuse a result) x "
            f"10 MB minimum = {scanned / GB:,.1f} GB",
            athena_usd,
            athena_usd,
        )
    )

    jobs = _resources(template, "AWS::Glue::Job")
    triggers = _resources(template, "AWS::Glue::Trigger")
    job_runs = 0.0
    for job_id, job in jobs.items():
        props = job["Properties"]
        runs = sum(
            monthly_runs(t["Properties"]["Schedule"])
            for t in triggers.values()
            if t["Properties"]["Type"] == "SCHEDULED"
            and {"Ref": job_id} in [x.get("JobName") for x in t["Properties"]["Actions"]]
        )
        job_runs += runs
        dpu = props["NumberOfWorkers"] * GLUE_WORKER_DPU[props["WorkerType"]]
        flex = props.get("ExecutionClass") == "FLEX"
        usd = runs * dpu * a.glue_billed_minutes / 60
        usd *= PRICE["glue_flex_dpu_hour" if flex else "glue_dpu_hour"]
        lines.append(
            Line(
                "Glue job",
                f"{runs:,.1f} runs x {dpu:g} DPU ({props['NumberOfWorkers']} x "
                f"{props['WorkerType']}{', Flex' if flex else ''}) x "
                f"{a.glue_billed_minutes:g} min",
                usd,
                usd,
            )
        )
    for crawler in _resources(template, "AWS::Glue::Crawler").values():
        schedule = crawler["Properties"].get("Schedule", {}).get("ScheduleExpression")
        runs = monthly_runs(schedule) if schedule else 0.0
        minutes = PRICE["glue_crawler_min_minutes"]
        usd = runs * a.crawler_dpu * minutes / 60 * PRICE["glue_dpu_hour"]
        lines.append(
            Line(
                "Glue crawler",
                f"{runs:,.1f} runs ({schedule or 'on demand'}) x {a.crawler_dpu:g} DPU x "
                f"{minutes} min minimum",
                usd,
                usd,
            )
        )

    # PUT/LIST: each raw batch; per query a result, its metadata and ~2 listings; ~20 objects
    # written and listed per job run. GET: what each query reads; each raw batch three times
    # for the job (a night's run rebuilds its days from the partitions around them,
    # docs/curation.md) and once for the crawler (new folders only).
    # Each curation run (hourly or nightly) lists raw/ whole and writes ~20 objects; the hourly
    # one GETs the batches of the partitions around the days it rebuilds.
    curate_lists = (curations + job_runs) * math.ceil(a.curate_raw_objects_listed / 1000)
    # A scanned query: its result and metadata PUT, one LIST per partition in range, GETs of
    # each object it reads (raw twice: the anti-join and the rows). The API reads the bound once
    # a fetch interval per warm container.
    query_lists = typical["partitions_listed"]
    puts = fetches + scans * (2 + query_lists) + 20 * (job_runs + curations) + curate_lists
    curate_gets = curations * (a.curate_days_read * fetches / DAYS_PER_MONTH + 4)
    query_gets = scans * query_get_requests(typical, a) + min(requests, fetches)
    gets = query_gets + 4 * fetches + curate_gets
    s3_usd = puts * PRICE["s3_put_list"] + gets * PRICE["s3_get"]
    lines.append(
        Line(
            "S3 requests",
            f"{puts:,.0f} PUT/LIST (batches, query results and partition listings, curation "
            f"output, {curate_lists:,.0f} listings of raw/) + {gets:,.0f} GET "
            f"({typical['objects']:,.1f} objects a query: {typical['raw']:,.1f} raw batches, "
            f"{typical['curated']:g} curated days; {curate_gets:,.0f} by hourly curation)",
            s3_usd,
            s3_usd,
        )
    )
    raw_gb_month = fetches * coins * a.raw_line_bytes / GB
    storage_usd = 12 * raw_gb_month * PRICE["s3_standard_gb_month"]
    lines.append(
        Line(
            "S3 storage",
            f"+{raw_gb_month * 1024:,.0f} MB of raw a month ({coins} coins): "
            f"~{12 * raw_gb_month * 1024:,.0f} MB stored after a year",
            storage_usd,
            storage_usd,
        )
    )
    key_mode = template.get("Parameters", {}).get("KmsKeyMode", {}).get("Default", "customer")
    key_usd = PRICE["kms_key_month"] if key_mode == "customer" else 0.0
    lines.append(
        Line(
            "KMS",
            ("customer key (+$1 per yearly rotation, up to $3)" if key_usd else "aws/s3 key")
            + f" + ~{a.kms_requests:,.0f} requests (bucket key)",
            key_usd + a.kms_requests * PRICE["kms_request"],
            key_usd + _over(a.kms_requests, ALWAYS_FREE["kms_requests"]) * PRICE["kms_request"],
        )
    )
    alarm_metrics = 0
    for alarm in _resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        alarm_metrics += (
            1 if "MetricName" in props else sum("MetricStat" in m for m in props["Metrics"])
        )
    access_logged = _resources(template, "AWS::ApiGatewayV2::Stage").values()
    access_log_bytes = sum(
        requests * a.access_log_bytes_per_request
        for stage in access_logged
        if "AccessLogSettings" in stage["Properties"]
    )
    log_gb = (
        (fetches + requests + curations) * a.log_bytes_per_invocation
        + access_log_bytes
        + job_runs * a.glue_log_mb_per_run * MB
    ) / GB
    lines.append(
        Line(
            "CloudWatch",
            f"{alarm_metrics} alarm metrics + {log_gb * 1024:,.0f} MB of logs",
            alarm_metrics * PRICE["cloudwatch_alarm_metric"]
            + log_gb * PRICE["cloudwatch_logs_gb_ingested"],
            _over(alarm_metrics, ALWAYS_FREE["cloudwatch_alarm_metrics"])
            * PRICE["cloudwatch_alarm_metric"]
            + _over(log_gb, ALWAYS_FREE["cloudwatch_logs_gb"])
            * PRICE["cloudwatch_logs_gb_ingested"],
        )
    )
    lines.append(Line("SQS, SNS, Glue Data Catalog", "a few messages; 3 tables", 0.0, 0.0))
    lines.extend(_heal(template, a))
    return lines


def _heal(template: dict[str, Any], a: Assumptions) -> list[Line]:
    """The heal function: its runs and logs; it reads two small state objects (no query)."""
    heal = template["Resources"].get("HealLambdaFunction", {}).get("Properties")
    if not heal:
        return []
    rate = _schedule_of(template, "HealLambdaFunction")
    runs = monthly_runs(rate)
    gb_seconds = runs * a.heal_seconds * heal["MemorySize"] / 1024
    gets = runs * 2 * PRICE["s3_get"]  # coverage.json and unrecoverable.json
    logs = runs * a.log_bytes_per_invocation / GB * PRICE["cloudwatch_logs_gb_ingested"]
    usd = gb_seconds * PRICE["lambda_gb_second_x86"] + runs * PRICE["lambda_request"] + gets + logs
    return [
        Line(
            "Heal",
            f"{runs:,.0f} runs ({rate}, {heal['MemorySize']} MB, {a.heal_seconds:g} s), 2 GETs "
            "each; no source request while the lake has no gap",
            usd,
            gets,  # Lambda and logs fit the always-free tiers beside the rest of the stack
        )
    ]


def _over(used: float, free: float) -> float:
    return max(0.0, used - free)


GOAL_USD_PER_1000 = 0.08  # issue 16's goal for the API's marginal cost


def per_1000_by_item(
    template: dict[str, Any], a: Assumptions, *, free: bool = False
) -> dict[str, float]:
    """What each 1,000 API requests add, item by item: the bill at this traffic minus the idle
    bill, per request. A fixed monthly cost cancels out and is never spread over requests."""
    requests = a.api_requests_per_day * DAYS_PER_MONTH
    if requests <= 0:
        return {}
    added: dict[str, float] = {}
    for sign, lines in (
        (1, estimate(template, a)),
        (-1, estimate(template, replace(a, api_requests_per_day=0))),
    ):
        for line in lines:
            added[line.item] = added.get(line.item, 0.0) + sign * (
                line.free_usd if free else line.usd
            )
    return {item: usd / requests * 1000 for item, usd in added.items() if abs(usd) > 1e-12}


def requests_per_day_for_goal(template: dict[str, Any], a: Assumptions) -> float | None:
    """The least traffic (requests a day, to ~1%) at which the API's marginal cost meets
    GOAL_USD_PER_1000: only repeats within a fetch slot (Athena result reuse) lower it."""

    def meets(per_day: float) -> bool:
        added = per_1000_by_item(template, replace(a, api_requests_per_day=per_day))
        return sum(added.values()) <= GOAL_USD_PER_1000

    low, high = 1.0, 1e7
    if not meets(high):
        return None
    if meets(low):
        return low
    while high / low > 1.01:
        middle = math.sqrt(low * high)
        low, high = (low, middle) if meets(middle) else (middle, high)
    return high


def figures(template: dict[str, Any], a: Assumptions) -> dict[str, Any]:
    """The machine-readable figures: idle and per-1,000-request cost, objects per query."""
    idle = sum(x.usd for x in estimate(template, replace(a, api_requests_per_day=0)))
    total = sum(x.usd for x in estimate(template, a))
    requests = a.api_requests_per_day * DAYS_PER_MONTH
    worst = objects_per_query(template, a, worst=True)
    by_item = per_1000_by_item(template, a)
    goal_from = requests_per_day_for_goal(template, a)
    return {
        "idle_usd_month": round(idle, 4),
        "total_usd_month": round(total, 4),
        "api_requests_per_day": a.api_requests_per_day,
        "usd_per_1000_requests": round((total - idle) / requests * 1000, 4) if requests else 0.0,
        "usd_per_1000_by_item": {item: round(usd, 4) for item, usd in by_item.items()},
        "usd_per_1000_after_free_tiers": round(
            sum(per_1000_by_item(template, a, free=True).values()), 4
        ),
        "goal_usd_per_1000_met_from_requests_per_day": (
            round(goal_from, -1) if goal_from is not None else None
        ),
        "athena_reuse_fraction": round(reuse_fraction(template, a), 4),
        # At most, just before the next hourly run: the figure the goals (<= 20) are about.
        "objects_per_query": {route: round(v["objects"], 1) for route, v in worst.items()},
    }


def report(template: dict[str, Any], a: Assumptions) -> str:
    """The Markdown table at these assumptions, and what each 1,000 more API requests add."""
    lines = estimate(template, a)
    idle = estimate(template, replace(a, api_requests_per_day=0))
    requests = a.api_requests_per_day * DAYS_PER_MONTH
    total, idle_total = sum(x.usd for x in lines), sum(x.usd for x in idle)
    per_thousand = (total - idle_total) / requests * 1000 if requests else 0.0
    idle_free = sum(x.free_usd for x in idle)
    return render_markdown(lines, a) + (
        f"\nWith no API traffic: {idle_total:.2f} USD/month ({idle_free:.2f} after the "
        f"always-free tiers). Each 1,000 API requests add {per_thousand:.3f} USD.\n"
    )


def render_markdown(lines: list[Line], a: Assumptions) -> str:
    rows = [
        "| item | driver (from the template and the assumptions) | list USD/month "
        "| after always-free tiers |",
        "|---|---|---:|---:|",
    ]
    rows += [
        f"| {line.item} | {line.driver} | {line.usd:.2f} | {line.free_usd:.2f} |" for line in lines
    ]
    total = sum(line.usd for line in lines)
    free_total = sum(line.free_usd for line in lines)
    rows.append(f"| **total** | | **{total:.2f}** | **{free_total:.2f}** |")
    assumed = ", ".join(f"{f.name}={getattr(a, f.name):g}" for f in fields(a))
    return "\n".join(rows) + f"\n\nAssumptions: {assumed}.\n"


BEGIN = "<!-- cost-table:begin (scripts/cost.py --write docs/cost.md) -->"
END = "<!-- cost-table:end -->"


def replace_block(document: str, table: str) -> str:
    """The document with the generated table between the markers."""
    head, found, rest = document.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise ValueError(f"the document has no {BEGIN} ... {END} block")
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--write", type=Path, help="update the table in this Markdown file")
    parser.add_argument("--check", type=Path, help="exit 1 if this file's table is stale")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    for f in fields(Assumptions):
        parser.add_argument("--" + f.name.replace("_", "-"), type=float, default=f.default)
    args = parser.parse_args(argv)
    if not args.template.is_file():
        print(f"{args.template} is missing: run `npx serverless package` first.", file=sys.stderr)
        return 2
    assumptions = Assumptions(**{f.name: getattr(args, f.name) for f in fields(Assumptions)})
    template = json.loads(args.template.read_text())
    if args.json:
        print(json.dumps(figures(template, assumptions), indent=1))
        return 0
    table = report(template, assumptions)
    if args.write:
        args.write.write_text(replace_block(args.write.read_text(), table))
    elif args.check:
        current = args.check.read_text()
        if replace_block(current, table) != current:
            print(
                f"{args.check} is stale: run scripts/cost.py --write {args.check}", file=sys.stderr
            )
            return 1
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
