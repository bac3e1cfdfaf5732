"""The command line on a real public log: the file and the same rows queried on Spark
``local[2]`` print the same JSON (SPEC §7).

Usage: ``python benchmarks/agree_spark_real_log.py LOG.csv[.gz]`` with a process log in
XES names (e.g. the receipt phase of the BPI Challenge, whose steps are named below).
The log is written once as CSV (with a ``seq`` column, its row number, as the order key)
and as Parquet of the same text; every command runs on both, in one process (one Spark
session).  Prints one line per command and ``N same, N different``.
"""
import contextlib
import io
import os
import shlex
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
from cxdata.cli import main  # noqa: E402

OUT = Path(__file__).resolve().parent / "_data"
OUT.mkdir(exist_ok=True)
log = sys.argv[1]
con = duckdb.connect()
con.execute(f"COPY (SELECT *, row_number() OVER () AS seq FROM read_csv('{log}', all_varchar = true)) "
            f"TO '{OUT / 'real.csv'}' (HEADER)")
con.execute(f"COPY (SELECT * FROM read_csv('{OUT / 'real.csv'}', all_varchar = true)) "
            f"TO '{OUT / 'real.parquet'}' (FORMAT parquet)")
steps = ('--step "Confirmation of receipt" --step "T02 Check confirmation of receipt" '
         '--step "T04 Determine confirmation of receipt" --step "T10 Determine necessity to stop indication"')
commands = [f"funnel --by event {steps} --window 7d",
            f"funnel --by event {steps} --window 7d --breakdown case:channel",
            f"funnel --by event {steps} --order strict --breakdown case:channel",
            f"funnel --by event {steps} --order unordered --window 30d --dropoffs-after 2 --dropoff-column event --every month",
            "paths --by event --top 10", "paths --by event --top 10 --keep-repeats"]


def run(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


same = different = 0
for command in commands:
    args = shlex.split(command)
    a = run(args[:1] + [str(OUT / "real.csv")] + args[1:] + ["--order-key", "seq", "--format", "json"])
    b = run(args[:1] + [f"spark:parquet:{OUT / 'real.parquet'}"] + args[1:] + ["--order-key", "seq", "--format", "json", "--spark", "local[2]"])
    ok = a == b and a[0] == 0
    same += ok; different += not ok
    print(("same" if ok else "DIFFERENT"), command[:90], flush=True)
print(f"{same} same, {different} different")
