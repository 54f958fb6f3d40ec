"""Alert rules as data: the YAML rules file, validated by pydantic, errors with line numbers.

rules:
  - name: btc-high
    coin: BTC
    above: 120000
    channels: [webhook]
    cooldown: 1h
  - {name: eth-move, coin: ETH, change_pct: 5, within: 1h}
  - {name: sol-stale, coin: SOL, stale_for: 15m}
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Channel = Literal["webhook", "sns", "console"]
CHANNELS: tuple[Channel, ...] = ("webhook", "sns", "console")

if TYPE_CHECKING:  # PyYAML loads when a rules file is parsed, not with the API
    import yaml

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file, the line and the fix."""


def parse_duration(value: object) -> object:
    """'15m', '1h', '2d', '30s' or a number of seconds -> timedelta."""
    if isinstance(value, bool):
        raise ValueError("is not a duration: use 30s, 15m, 1h or 2d")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
        raise ValueError(f"{value!r} is not a duration: use 30s, 15m, 1h or 2d")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Kind(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    CHANGE = "change"
    STALE = "stale"


# The longest change window: 5-minute buckets over it stay far below the history query's cap.
MAX_WINDOW = timedelta(days=7)


class Rule(BaseModel):
    """One rule: a coin, exactly one condition, where to send it and how often at most."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    coin: str = Field(min_length=1, max_length=20)
    above: float | None = Field(None, gt=0, allow_inf_nan=False)
    below: float | None = Field(None, gt=0, allow_inf_nan=False)
    change_pct: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False)
    within: Duration | None = None
    stale_for: Duration | None = None
    channels: list[Channel] | None = Field(None, min_length=1)
    cooldown: Duration = timedelta(hours=1)
    # Thresholds re-arm only once the value is this far (percent of the threshold) back on
    # the other side, so a price hovering at the line fires once, not on every fetch.
    hysteresis_pct: float = Field(0.5, ge=0, lt=50, allow_inf_nan=False)

    @field_validator("coin", mode="after")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @model_validator(mode="after")
    def _one_condition(self) -> Rule:
        given = [k for k in ("above", "below", "change_pct", "stale_for") if getattr(self, k)]
        if len(given) != 1:
            found = f" (found {', '.join(given)})" if given else ""
            raise ValueError(
                "give exactly one condition: above, below, change_pct (with within) or "
                f"stale_for{found}"
            )
        if self.change_pct is not None:
            if self.within is None:
                raise ValueError("change_pct needs a window: add within: 1h")
            if not timedelta(minutes=5) <= self.within <= MAX_WINDOW:
                raise ValueError("within must be between 5m and 7d")
        elif self.within is not None:
            raise ValueError("within belongs to change_pct rules only")
        if self.stale_for is not None and self.stale_for < timedelta(minutes=1):
            raise ValueError("stale_for must be at least 1m")
        if self.cooldown < timedelta(0):
            raise ValueError("cooldown cannot be negative")
        return self

    @property
    def kind(self) -> Kind:
        if self.above is not None:
            return Kind.ABOVE
        if self.below is not None:
            return Kind.BELOW
        if self.change_pct is not None:
            return Kind.CHANGE
        return Kind.STALE

    @property
    def threshold(self) -> float:
        """The number the value is compared with: a price, a percent, or seconds for stale."""
        if self.above is not None:
            return self.above
        if self.below is not None:
            return self.below
        if self.change_pct is not None:
            return self.change_pct
        assert self.stale_for is not None
        return self.stale_for.total_seconds()

    def describe(self) -> str:
        match self.kind:
            case Kind.ABOVE:
                return f"{self.coin} above {self.above:g} USD"
            case Kind.BELOW:
                return f"{self.coin} below {self.below:g} USD"
            case Kind.CHANGE:
                assert self.within is not None
                return f"{self.coin} moves {self.change_pct:g} % within {human(self.within)}"
            case Kind.STALE:
                assert self.stale_for is not None
                return f"{self.coin} has no new price for {human(self.stale_for)}"


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(default_factory=list)


def human(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Map every path in the YAML document (('rules', 0, 'above')) to its 1-based line."""
    import yaml

    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value
            out[(*path, name)] = key.start_mark.line + 1
            _lines(value, (*path, name), out)
            out[(*path, name)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), out)


def parse_rules(
    text: str, *, source: str, coins: Collection[str], channels: Collection[Channel] = CHANNELS
) -> RulesFile:
    """Parse and validate a rules file; RulesError says `source:line: where: what`."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise RulesError(f"{source}{line}: not valid YAML ({problem})") from None
    if data is None:
        return RulesFile()
    lines: dict[tuple[Any, ...], int] = {}
    if root is not None:
        _lines(root, (), lines)
    if not isinstance(data, dict):
        raise RulesError(f"{source}:1: the file must be a mapping with a `rules:` list")
    try:
        parsed = RulesFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise RulesError(_located(source, first["loc"], first["msg"], data, lines)) from None
    seen: set[str] = set()
    for index, rule in enumerate(parsed.rules):
        if rule.name in seen:
            raise RulesError(
                _located(
                    source,
                    ("rules", index, "name"),
                    f"two rules are named {rule.name!r}: names must be unique",
                    data,
                    lines,
                )
            )
        seen.add(rule.name)
        if rule.coin not in coins:
            raise RulesError(
                _located(
                    source,
                    ("rules", index, "coin"),
                    f"{rule.coin} is not a collected coin: use one of {', '.join(coins)} "
                    "(NEBULA_COINS)",
                    data,
                    lines,
                )
            )
        for channel in rule.channels or ():
            if channel not in channels:
                raise RulesError(
                    _located(
                        source,
                        ("rules", index, "channels"),
                        f"channel {channel!r} is not configured here "
                        f"(configured: {', '.join(channels)}); {_CHANNEL_HINTS[channel]}",
                        data,
                        lines,
                    )
                )
    return parsed


_CHANNEL_HINTS: dict[Channel, str] = {
    "webhook": "set NEBULA_ALERT_WEBHOOK_URL",
    "sns": "set NEBULA_ALERT_TOPIC_ARN (the AWS stack sets it)",
    "console": "console is always available",
}


def _located(
    source: str,
    loc: tuple[int | str, ...],
    message: str,
    data: dict[str, Any],
    lines: dict[tuple[Any, ...], int],
) -> str:
    path = tuple(loc)
    # The deepest part of the path present in the file (a missing key: its mapping's line).
    while path and path not in lines:
        path = path[:-1]
    line = lines.get(path, 1)
    where = _where(loc, data)
    message = message.removeprefix("Value error, ")
    return f"{source}:{line}: {where}: {message}" if where else f"{source}:{line}: {message}"


def _where(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules")
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            name = rules[loc[1]].get("name")
            if isinstance(name, str):
                text = text.replace(f"rules[{loc[1]}]", f"rules[{loc[1]}] ({name})", 1)
    return text
