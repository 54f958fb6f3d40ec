"""Price sources: one module per upstream API."""

from nebulastream.sources.base import SourceError, SpotBatch

__all__ = ["SourceError", "SpotBatch"]
