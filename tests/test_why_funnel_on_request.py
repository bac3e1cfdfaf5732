"""AppTest: the Funnel page's "Why do they drop here?" runs at once on a log of up to
``WHY_AUTOMATIC_ROWS`` interactions and only on request (a toggle kept in the URL) above
that, so that a filter change on a big log redraws the funnel without waiting for the
drivers.  The dataset's ``rows_accepted`` decides; the sample stands in for a big log by
claiming more rows than it has."""
from __future__ import annotations

import builtins

import pytest
from streamlit.testing.v1 import AppTest

from cxdata.ui.why_funnel import WHY_AUTOMATIC_ROWS
from tests.helpers_app import run_section


def _page():
    import builtins
    import dataclasses

    from cxdata.sql import EventFilter
    from cxdata.ui.why_funnel import why_drop_section
    from tests.helpers_app import sample_dataset
    info = sample_dataset()
    if builtins.CLAIMED_ROWS is not None:
        info = dataclasses.replace(info, rows_accepted=builtins.CLAIMED_ROWS)
    why_drop_section(info, ["Cart", "Order confirmation"], 1,
                     dict(by="touchpoint", window_seconds=None, order="ordered",
                          event_filter=EventFilter()), {"touchpoint": "Touchpoint"})


@pytest.fixture(autouse=True)
def claimed_rows():
    # read by _page on every run of the test, reruns included
    builtins.CLAIMED_ROWS = None
    yield
    del builtins.CLAIMED_ROWS


def _run(claimed_rows: int | None, **query) -> AppTest:
    builtins.CLAIMED_ROWS = claimed_rows
    return run_section(_page, query=query)


def _drivers_shown(at) -> bool:
    return any("Live chat after Cart converted 0\\.4× as often" in m.value for m in at.markdown)


def test_a_log_up_to_the_limit_gets_the_drivers_at_once_without_a_toggle():
    at = _run(WHY_AUTOMATIC_ROWS)
    assert not [t for t in at.toggle if t.key == "why_drop"]
    assert _drivers_shown(at)


def test_a_bigger_log_gets_them_on_request_and_the_request_is_in_the_url():
    at = _run(WHY_AUTOMATIC_ROWS + 1)
    toggle = at.toggle(key="why_drop")
    assert toggle.value is False
    assert not _drivers_shown(at) and len(at.dataframe) == 0
    toggle.set_value(True).run()
    assert _drivers_shown(at) and len(at.dataframe) == 2


def test_a_link_with_the_request_opens_the_drivers_on_a_big_log():
    at = _run(WHY_AUTOMATIC_ROWS + 1, why_drop="true")
    assert at.toggle(key="why_drop").value is True
    assert _drivers_shown(at)
