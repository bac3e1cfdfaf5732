"""What the Spark engine runs on every partition, and the plans it makes for it.

:func:`partition_runner` makes the ``mapInArrow`` functions: an embedded DuckDB runs the
ingest's parse, or an analysis kernel, or its ``then``, over a partition's rows.  They are
plain closures over duckdb and pyarrow (cloudpickle sends them by value, so the executors
need no copy of cxdata).  :func:`output_schema` and :func:`columns_read` run here, on the
client, over empty inputs: the Arrow schema of a stage's rows, and the columns of the
cached events a kernel reads.
"""
from __future__ import annotations

from typing import Sequence

#: Events per packed block of the cached canonical events (see :func:`partition_runner`).
PACK_ROWS = 1 << 17


def partition_runner(stages: list[tuple[str, str, list]], input_schema_bytes: bytes,
                     input_name: str = "input", *, packed_input: Sequence[str] = (),
                     pack_output: bool = False):
    """A ``mapInArrow`` function: the partition's batches become table ``input_name`` in
    an embedded DuckDB; each stage ``(name, sql, params)`` creates table ``name`` from the
    ones before; the last stage's rows are the output.

    *Packed* rows are blocks of :data:`PACK_ROWS` rows, each column of a block one
    compressed Arrow IPC stream in binary column ``c<i>``: how the canonical events are
    cached.  Spark then moves a few large byte strings between its cache and the Python
    workers instead of converting every event's every column, which was most of a
    question's time; and a question takes only the columns its SQL reads
    (:func:`columns_read`).  ``packed_input``: the names of the columns the frame holds.
    """

    def run(batches):
        import duckdb
        import pyarrow as pa
        schema = pa.ipc.read_schema(pa.py_buffer(input_schema_bytes))
        if packed_input:
            def column(blob):       # no copy of the bytes
                return pa.ipc.open_stream(blob.as_buffer()).read_all().column(0)
            parts = [pa.table([column(batch.column(i)[r]) for i in range(len(packed_input))],
                              names=list(packed_input))
                     for batch in batches for r in range(batch.num_rows)]
            table = pa.concat_tables(parts) if parts else schema.empty_table()
        else:
            batches = list(batches)
            # Spark's own schema when there are rows (its nullability may differ from ours)
            table = pa.Table.from_batches(batches) if batches else schema.empty_table()
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET threads = 1")          # Spark already runs a task per core
            # Scanned in place, not copied into a table: a copy of every event cost more
            # than the kernels' scans of the Arrow data.
            con.register(input_name, table)
            *middle, (_, last_sql, last_params) = stages
            for name, sql, params in middle:
                con.execute(f'CREATE TABLE "{name}" AS {sql}', params)
            result = con.sql(last_sql, params=list(last_params)).to_arrow_table()   # no extra copy
            if not pack_output:
                yield from result.to_batches()
                return
            options = pa.ipc.IpcWriteOptions(compression="lz4")

            def packed(table):
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
                    writer.write_table(table)
                return pa.array([sink.getvalue().to_pybytes()], pa.binary())

            for start in range(0, result.num_rows, PACK_ROWS):
                block = result.slice(start, PACK_ROWS)
                yield pa.RecordBatch.from_arrays([packed(block.select([i])) for i in range(block.num_columns)],
                                                 [f"c{i}" for i in range(block.num_columns)])
        finally:
            con.close()     # after the rows are handed over: the result may use its memory

    return run


def output_schema(stages, input_schema, input_name: str):
    """The Arrow schema of the last stage's output on an empty input (run here)."""
    import duckdb
    import pyarrow as pa
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("input_arrow", pa.Table.from_batches([], schema=input_schema))
        con.execute(f'CREATE TABLE "{input_name}" AS SELECT * FROM input_arrow')
        *middle, (_, last_sql, last_params) = stages
        for name, sql, params in middle:
            con.execute(f'CREATE TABLE "{name}" AS {sql}', params)
        return con.sql(last_sql, params=list(last_params)).to_arrow_table().schema
    finally:
        con.close()


def columns_read(kernel: str, params: Sequence, events_schema) -> list[str]:
    """The columns of ``events`` that ``kernel`` reads, in the events' order: those
    DuckDB's own plan of it (over an empty table) scans — projected, or named by a
    scan's filters; a ``SELECT *`` whose columns reach the result keeps them all — and
    those the SQL names.  Every column when the plan does not say, and at least one (the
    rows still count).  A column left out by mistake would be a binder error, never a
    different number (the output schema is worked out over these columns first)."""
    import json
    import duckdb
    import pyarrow as pa
    names = list(events_schema.names)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        # An empty table's statistics would let DuckDB drop scans from the plan.
        con.execute("SET disabled_optimizers = 'statistics_propagation,empty_result_pullup'")
        con.register("events_arrow", pa.Table.from_batches([], schema=events_schema))
        con.execute("CREATE TABLE events AS SELECT * FROM events_arrow")
        plan = json.loads(con.execute("EXPLAIN (FORMAT JSON) " + kernel, list(params)).fetchall()[0][1])
    except Exception:
        return names
    finally:
        con.close()
    wanted: set[str] = set()
    scanned = False
    nodes = list(plan) if isinstance(plan, list) else [plan]
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("children", []))
        info = node.get("extra_info") or {}
        if not isinstance(info, dict) or str(info.get("Table", "")).split(".")[-1] != "events":
            continue
        scanned = True
        projected = info.get("Projections")
        if projected is None:
            return names
        projected = [p for p in (projected.split("\n") if isinstance(projected, str) else projected) if p]
        if any(p not in names for p in projected):
            return names
        wanted.update(projected)
        wanted.update(_named_in(str(info.get("Filters", "")), names))
    if not scanned:
        return names
    # and every column the SQL names: the plan leaves out what no result uses, but the
    # SQL must still find each column it names to be bound at all
    wanted.update(_named_in(kernel, names))
    return [n for n in names if n in wanted] or [names[0]]


def _named_in(text: str, names: Sequence[str]) -> list[str]:
    """The names that occur in ``text`` as whole words (case ignored: SQL's rule)."""
    import re
    return [n for n in names if re.search(r"(?<![\w])" + re.escape(n) + r"(?![\w])", text, re.IGNORECASE)]


def select_fields(schema, index: list[int]):
    """The fields ``index`` of an Arrow schema."""
    import pyarrow as pa
    return pa.schema([schema.field(i) for i in index])
