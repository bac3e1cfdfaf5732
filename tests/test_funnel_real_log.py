"""The CLI's funnel on a real public event log agrees with the independent pure-Python
reading of SPEC §2 in tests/test_funnel_properties.py (all three order modes, with a
window, with repeated activities and same-second events as the real log has them), read
from the file and from a workspace dataset (whose funnels use the stored timeline)."""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from cxdata.io.ingest import ingest_file
from cxdata.store.timelines import find_timeline
from cxdata.store.workspace import Workspace
from tests.helpers_events import BASE_TIME
from tests.test_cli import RECEIPT, run
from tests.test_funnel_properties import Ev, assert_cli_steps_agree, reference_counted, reference_steps

STEPS = ["Confirmation of receipt", "T02 Check confirmation of receipt",
         "T04 Determine confirmation of receipt", "T06 Determine necessity of stop advice",
         "T05 Print and send confirmation of receipt"]


@pytest.fixture(scope="module")
def receipt_events() -> list[Ev]:
    """The log's events as the reference reads them: seconds after BASE_TIME (UTC), the
    data row number, the activity (``concept:name``) in the step field."""
    con = duckdb.connect()
    ingest_file(con, RECEIPT, table="ev", rejects_table="rej")
    rows = con.execute("SELECT customer_id, epoch_us(ts), _row, event, channel FROM ev").fetchall()
    base = int((BASE_TIME - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000   # naive = UTC
    events = []
    for customer, us, row, event, channel in rows:
        # the log has millisecond times: keep them exact as fractional seconds
        events.append(Ev(customer=customer, t=(us - base) / 1_000_000, row=row, stage=event,
                         channel=channel, touchpoint=None))
    assert len(events) == 8577
    return events


@pytest.fixture(scope="module")
def receipt_workspace(tmp_path_factory):
    """A workspace holding the log as dataset "receipt", stored as the app stores it."""
    path = tmp_path_factory.mktemp("receipt") / "workspace.duckdb"
    ws = Workspace(path)
    _, info = ws.ingest(RECEIPT, "receipt")
    # no stage column: the workspace gathered the customers' activities
    assert find_timeline(ws.cursor(), info.table, "event") is not None
    ws.close()
    return path


@pytest.mark.parametrize("source", ["file", "workspace"])
@pytest.mark.parametrize("order, window", [("ordered", 7 * 86400), ("ordered", None),
                                           ("strict", None), ("unordered", 3 * 86400)])
def test_cli_funnel_on_the_receipt_log_agrees_with_the_reference(receipt_events, receipt_workspace,
                                                                 source, order, window):
    target = RECEIPT if source == "file" else "ws:receipt"
    args = ["funnel", target, "--workspace", receipt_workspace, "--by", "event", "--order", order,
            "--window", "none" if window is None else f"{window}s", "--format", "json"]
    for step in STEPS:
        args += ["--step", step]
    code, out, err = run(*args)
    assert code == 0, err
    got = json.loads(out)
    expected = reference_steps(list(reference_counted(receipt_events, STEPS, order, window,
                                                      (None, None)).values()), len(STEPS))
    assert_cli_steps_agree(got, expected)
    # a real funnel, not a trivial one: customers are lost along the way
    assert expected[0][0] > expected[-1][0] > 0
