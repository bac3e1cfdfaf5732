"""The engine interface (see :mod:`cxdata.engines`)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Iterator, Sequence

import pandas as pd


class Engine(ABC):
    """Scans the events of one log and runs analysis SQL over them.

    ``table`` is the name the analysis SQL gives the events relation: the canonical
    columns of the workspace tables (``_row``, ``customer_id``, ``ts`` naive UTC, the
    text roles, the integer scores, ``comment``, attributes as text).  ``_row`` orders a
    customer's events at one instant (file order, or ``--order-key``).
    """

    table: str

    @abstractmethod
    def column_types(self) -> dict[str, str]:
        """Column name -> DuckDB type name of the events relation."""

    @abstractmethod
    def time_range_us(self) -> tuple[int | None, int | None]:
        """Earliest and latest event time of the whole log (epoch µs, UTC; None when
        the log has no events)."""

    def timeline(self, column: str):
        """The stored per-customer timeline of ``column`` (:mod:`cxdata.store.timelines`), or
        None: only a workspace dataset has them."""
        return None

    @abstractmethod
    def run(self, kernel: str, params: Sequence = (), then: str | None = None,
            then_params: Sequence = ()) -> pd.DataFrame:
        """The result of ``then`` over the rows of ``kernel`` (see :mod:`cxdata.engines`);
        the kernel rows themselves when ``then`` is None (then the kernel must return
        few rows).  Parameters are positional (``?``)."""

    def rows(self, kernel: str, params: Sequence = (), then: str | None = None,
             then_params: Sequence = ()) -> list[tuple]:
        """As :meth:`run`, as a list of tuples of plain Python values (exact integers)."""
        frame = self.run(kernel, params, then, then_params)
        return [tuple(None if _missing(v) else _plain(v) for v in row)
                for row in frame.itertuples(index=False, name=None)]

    @contextmanager
    def kept(self, kernel: str, params: Sequence = ()) -> Iterator[str | None]:
        """The name of a relation holding the rows of ``kernel`` (one per customer) while
        the block runs, for several questions about them; None when this engine does not
        keep results between queries (the caller then asks each question from scratch,
        the same numbers)."""
        yield None


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value):
    item = getattr(value, "item", None)
    return item() if callable(item) else value
