"""Query-string benchmark: the 10,000-parameter request before and after the caps.

    .venv/bin/python -m benchmarks.query_bench [--repeat 5]

"Before" replays the repeated-parameter check as it was (one `getlist` scan per distinct
name: quadratic) on the 10,000-parameter query string of issue 14; "after" sends the same
request through the app (RequestGuard refuses it with a 414 before anything parses it) and also
times the new one-pass check on the same pairs, as if there were no cap. All in this process,
best of --repeat runs; the ratios are what to read, not the absolute times.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from starlette.datastructures import QueryParams

from api.app import create_app
from api.deps import first_repeated
from api.guard import query_problem

QUERY = "&".join(f"{i:x}=" for i in range(10_000))


def quadratic_check(params: QueryParams) -> str | None:
    """The check before issue 14, for the baseline only."""
    for name in dict.fromkeys(params.keys()):
        if len(params.getlist(name)) > 1:
            return name
    return None


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    print(f"query string: {len(QUERY):,} bytes, 10,000 distinct empty parameters")
    before = best_of(repeat, lambda: quadratic_check(QueryParams(QUERY)))
    linear = best_of(repeat, lambda: first_repeated(QueryParams(QUERY).multi_items()))
    guard = best_of(repeat, lambda: query_problem(QUERY.encode()))
    with TestClient(create_app()) as client:
        assert client.get(f"/prices/latest?{QUERY}").status_code == 414
        request = best_of(repeat, lambda: client.get(f"/prices/latest?{QUERY}"))
        floor = best_of(repeat, lambda: client.get("/prices/latest?" + "x" * 3000))
    rows = [
        ("before: quadratic check alone", before, ""),
        ("after:  one-pass check, no cap", linear, f"{before / linear:,.0f}x less"),
        ("after:  whole request, refused (414)", request, f"{before / request:,.0f}x less"),
        ("after:  the cap's own scan", guard, f"{before / guard:,.0f}x less"),
        ("floor:  a 3 KB query refused (414)", floor, f"request / floor = {request / floor:.2f}"),
    ]
    for label, seconds, ratio in rows:
        print(f"{label:<38} {seconds * 1e3:10.4f} ms  {ratio}")


if __name__ == "__main__":
    main()
