"""The cost script's schedule arithmetic and its Markdown block."""

from __future__ import annotations

import pytest

from scripts import cost


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("rate(5 minutes)", 8760),
        ("rate(1 hour)", 730),
        ("rate(1 day)", 365 / 12),
        ("cron(0 * * * ? *)", 730),
        ("cron(20 0 * * ? *)", 365 / 12),
        ("cron(0 3 1 * ? *)", 1),
        ("cron(0 3 ? * SUN *)", 52 / 12),
        ("cron(0 3 ? * MON-FRI *)", 261 / 12),
        ("cron(0/15 * * * ? *)", 4 * 24 * 365 / 12),
    ],
)
def test_schedules_turn_into_runs_per_month(expression: str, runs: float) -> None:
    assert cost.monthly_runs(expression) == pytest.approx(runs)


@pytest.mark.parametrize("expression", ["rate(5 fortnights)", "cron(0 3 * * ?)", "daily"])
def test_schedule_outside_the_aws_forms_is_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="neither rate"):
        cost.monthly_runs(expression)


def test_table_block_is_replaced_between_its_markers_only() -> None:
    document = f"# Cost\n\nintro\n{cost.BEGIN}\nold table\n{cost.END}\n\nafter\n"
    updated = cost.replace_block(document, "| new |\n")
    assert updated == f"# Cost\n\nintro\n{cost.BEGIN}\n| new |\n{cost.END}\n\nafter\n"
    assert cost.replace_block(updated, "| new |\n") == updated


def test_document_without_markers_is_an_error_naming_them() -> None:
    with pytest.raises(ValueError, match="cost-table:begin"):
        cost.replace_block("# Cost\n", "| t |\n")
