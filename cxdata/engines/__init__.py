"""Engines: where events are scanned.

Analytics modules (:mod:`cxdata.analytics.funnel`, :mod:`cxdata.analytics.paths`, :mod:`cxdata.analytics.scores`, …)
say what a number means, in DuckDB SQL, and ask an :class:`~cxdata.engines.base.Engine`
to compute it.  They never import DuckDB or Spark.

Every query an analysis sends has two parts (:meth:`Engine.run`):

``kernel``  SQL over the events relation (``engine.table``) that is correct on any subset
            of *whole customers*: each customer's events are all in the subset or none
            are.  Per-customer work — funnels, paths, drop-offs — lives here.
``then``    SQL over the relation ``kernel`` (every kernel row, of every subset) that
            turns it into the answer: counts, quantiles, groups.

The DuckDB engine (:mod:`cxdata.engines.duckdb_engine`) runs both as one query over a
workspace table.  The Spark engine (:mod:`cxdata.engines.spark_engine`) spreads the
events over partitions by customer, runs the same kernel SQL in an embedded DuckDB on
every partition (``mapInArrow``), and the ``then`` SQL in one more DuckDB over the kernel
rows: the same SQL text on both engines, so their numbers cannot drift apart.
"""
from __future__ import annotations

from cxdata.engines.base import Engine


def as_engine(source, table: str | None = None) -> Engine:
    """``source`` itself when it is an :class:`Engine`, else a DuckDB engine over table
    ``table`` of the DuckDB connection or cursor ``source`` (the library's historical
    ``(cur, table)`` calling convention)."""
    if isinstance(source, Engine):
        return source
    from cxdata.engines.duckdb_engine import DuckDBEngine
    return DuckDBEngine(source, table)


__all__ = ["Engine", "as_engine"]
