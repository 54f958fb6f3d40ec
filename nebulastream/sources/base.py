"""What every source returns, and the one error a source raises when it gives up."""

from __future__ import annotations

from dataclasses import dataclass, field

from nebulastream.models import Observation


class SourceError(RuntimeError):
    """The source could not be read after retries. The message is one line for a user."""


@dataclass(frozen=True)
class SpotBatch:
    """The current prices of the configured coins from one call."""

    observations: list[Observation]
    missing: list[str] = field(default_factory=list)  # configured symbols the source left out
    attempts: int = 1
