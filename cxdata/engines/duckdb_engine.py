"""The default engine: a table of the embedded DuckDB workspace (or any DuckDB table)."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator, Sequence

import pandas as pd

from cxdata.engines.base import Engine
from cxdata.sql import quote_ident
from cxdata.store.memory import is_out_of_memory, out_of_memory


def with_kernel(kernel: str, then: str) -> str:
    """One query: ``then`` reading the kernel's rows as CTE ``kernel`` (``then`` may start
    with CTEs of its own)."""
    head = then.lstrip()
    if head[:4].upper() == "WITH" and head[4:5].isspace():
        return f"WITH kernel AS (\n{kernel}\n),\n{head[5:]}"
    return f"WITH kernel AS (\n{kernel}\n)\n{then}"


class DuckDBEngine(Engine):
    """Events in table ``table`` of a DuckDB connection or cursor ``cur``; ``kernel`` and
    ``then`` run as one query, so DuckDB plans them together."""

    def __init__(self, cur, table: str, order_key: str | None = None):
        """``order_key``: a column of ``table`` that orders one customer's events at one
        instant (numbers as numbers, then text), instead of the file order."""
        self.cur = cur
        self.table = table
        self.order_key = order_key
        if order_key is not None:
            # The analyses order ties by _row: a view numbers them by the key instead.
            # (A TEMP view lives on this cursor, which every query of the engine uses.)
            key = quote_ident(order_key)
            self.table = f"{table}__by_{abs(hash(order_key)) % 10**8}"
            cur.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(self.table)} AS "
                        f"SELECT * EXCLUDE (_row), row_number() OVER (ORDER BY customer_id, ts, "
                        f"TRY_CAST({key} AS DOUBLE) NULLS LAST, {key}, _row) AS _row "
                        f"FROM {quote_ident(table)}")

    def column_types(self) -> dict[str, str]:
        rows = self.cur.execute(f"DESCRIBE {quote_ident(self.table)}").fetchall()
        return {row[0]: row[1] for row in rows}

    def time_range_us(self) -> tuple[int | None, int | None]:
        low, high = self.cur.execute(f"SELECT epoch_us(min(ts)), epoch_us(max(ts)) "
                                     f"FROM {quote_ident(self.table)}").fetchone()
        return low, high

    def timeline(self, column: str):
        if self.order_key is not None:
            return None        # a timeline's keys hold the file order of ties
        from cxdata.store.timelines import find_timeline
        return find_timeline(self.cur, self.table, column)

    def _sql(self, kernel: str, then: str | None) -> str:
        return kernel if then is None else with_kernel(kernel, then)

    def run(self, kernel: str, params: Sequence = (), then: str | None = None,
            then_params: Sequence = ()) -> pd.DataFrame:
        with _memory_sentence(self.cur):
            return self.cur.execute(self._sql(kernel, then), list(params) + list(then_params)).df()

    def rows(self, kernel: str, params: Sequence = (), then: str | None = None,
             then_params: Sequence = ()) -> list[tuple]:
        with _memory_sentence(self.cur):
            return self.cur.execute(self._sql(kernel, then),
                                    list(params) + list(then_params)).fetchall()

    @contextmanager
    def kept(self, kernel: str, params: Sequence = ()) -> Iterator[str | None]:
        """A TEMP table of the kernel's rows, on this engine's cursor (every query of the
        engine uses it), dropped after the block.  It lives in memory, outside the
        workspace file, so a read-only workspace can keep results too."""
        name = f"kept_{uuid.uuid4().hex[:12]}"
        with _memory_sentence(self.cur):
            self.cur.execute(f"CREATE TEMP TABLE {name} AS {kernel}", list(params))
        try:
            yield name
        finally:
            self.cur.execute(f"DROP TABLE IF EXISTS temp.{name}")


@contextmanager
def _memory_sentence(cur):
    """Turn DuckDB running out of memory (past its limit, even spilling) into the one
    sentence that says what to do (:class:`cxdata.store.memory.OutOfMemory`), which the
    command line and every app page show instead of a traceback."""
    try:
        yield
    except Exception as exc:
        if is_out_of_memory(exc):
            raise out_of_memory(exc, cur) from None
        raise
