"""Queries behind the HTTP API: the SQL (once), the engine interface and the use cases.

Engines are imported lazily (`nebulastream.edge.make_engine`) so the Athena Lambda never
imports DuckDB or pyarrow.
"""

from nebulastream.query.base import EngineError, Query, QueryEngine

__all__ = ["EngineError", "Query", "QueryEngine"]
