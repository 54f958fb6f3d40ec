"""The rules file: kinds, durations, and errors that name the file, the line and the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nebulastream.alerts.rules import Kind, RulesError, parse_duration, parse_rules

COINS = ("BTC", "ETH", "SOL")

GOOD = """\
rules:
  - name: btc-high
    coin: BTC
    above: 120000
    channels: [webhook]
    cooldown: 1h
  - {name: btc-low, coin: btc, below: 90000}
  - {name: eth-move, coin: ETH, change_pct: 5, within: 1h, hysteresis_pct: 2}
  - {name: sol-stale, coin: SOL, stale_for: 15m, cooldown: 0}
"""


def parse(text: str, **kwargs: object) -> list:  # type: ignore[type-arg]
    return list(parse_rules(text, source="alerts.yml", coins=COINS, **kwargs).rules)  # type: ignore[arg-type]


def error_of(text: str, **kwargs: object) -> str:
    with pytest.raises(RulesError) as caught:
        parse(text, **kwargs)
    return str(caught.value)


def test_every_kind_parses_with_its_threshold_and_defaults() -> None:
    high, low, move, stale = parse(GOOD)
    assert (high.kind, high.threshold, high.channels, high.cooldown) == (
        Kind.ABOVE,
        120000,
        ["webhook"],
        timedelta(hours=1),
    )
    assert (low.kind, low.coin, low.channels, low.hysteresis_pct) == (Kind.BELOW, "BTC", None, 0.5)
    assert (move.kind, move.threshold, move.within) == (Kind.CHANGE, 5, timedelta(hours=1))
    assert (stale.kind, stale.threshold, stale.cooldown) == (Kind.STALE, 900, timedelta(0))


def test_an_empty_file_has_no_rules() -> None:
    assert parse("") == []
    assert parse("rules: []\n") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - name: a\n    coin: BTC\n    above: lots\n",
            "alerts.yml:4: rules[0] (a).above: Input should be a valid number",
        ),
        (
            "rules:\n  - name: a\n    coin: ETH\n    change_pct: 5\n",
            "alerts.yml:2: rules[0] (a): change_pct needs a window: add within: 1h",
        ),
        (
            "rules:\n  - {name: a, coin: BTC, above: 1}\n  - name: b\n    coin: BTC\n    abov: 2\n",
            "alerts.yml:5: rules[1] (b).abov: Extra inputs are not permitted",
        ),
        (
            "rules:\n  - {name: a, coin: BTC, above: 1, below: 2}\n",
            "alerts.yml:2: rules[0] (a): give exactly one condition",
        ),
        (
            "rules:\n  - {name: a, coin: SOL, stale_for: soon}\n",
            "alerts.yml:2: rules[0] (a).stale_for: Value error, 'soon' is not a duration",
        ),
        (
            "rules:\n  - {name: a, coin: BTC, above: 1}\n  - {name: a, coin: BTC, above: 2}\n",
            "alerts.yml:3: rules[1] (a).name: two rules are named 'a'",
        ),
        (
            "rules:\n\n  - name: a\n    coin: DOGEX\n    above: 1\n",
            "alerts.yml:4: rules[0] (a).coin: DOGEX is not a collected coin: use one of BTC, "
            "ETH, SOL",
        ),
        ("rules: [\n", "alerts.yml:2: not valid YAML"),
        ("- just a list\n", "alerts.yml:1: the file must be a mapping"),
    ],
)
def test_errors_say_file_line_rule_and_what_to_change(text: str, expected: str) -> None:
    assert (
        error_of(text)
        .replace("Value error, ", "")
        .startswith(expected.replace("Value error, ", ""))
    )


def test_a_channel_that_is_not_configured_is_refused_with_its_setting() -> None:
    message = error_of(
        "rules:\n  - name: a\n    coin: BTC\n    above: 1\n    channels: [webhook]\n",
        channels=("console",),
    )
    assert message.startswith("alerts.yml:5: rules[0] (a).channels: channel 'webhook'")
    assert "NEBULA_ALERT_WEBHOOK_URL" in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), (90, 90), ("1.5h", 5400)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == timedelta(seconds=seconds)


def test_a_change_window_is_bounded() -> None:
    assert "within must be between 5m and 7d" in error_of(
        "rules:\n  - {name: a, coin: ETH, change_pct: 5, within: 30d}\n"
    )
