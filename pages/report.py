"""Report: one self-contained HTML file for stakeholders — key figures, funnel, drop-off,
touchpoint scores, insights, what goes with them (the Why analyses) and a journey map.  It opens anywhere without internet and
prints cleanly (File → Print, or save as PDF from the browser).
"""
from __future__ import annotations

import streamlit as st

from cxdata.store import map_store as ms
from cxdata.errors import CxDataError
from cxdata.presentation.report import build_report_html
from cxdata.ui import spark_run
from cxdata.ui.downloads import file_stem
from cxdata.ui.filters import describe, filter_bar, grouping_columns, plain
from cxdata.ui.state import get_workspace, require_dataset

REPORT = "report_html"     # session: (settings key, html)
NO_MAP = "(no journey map)"


def main() -> None:
    info = require_dataset()
    event_filter = filter_bar(info)
    cur = get_workspace().cursor()
    st.title("Stakeholder report")
    st.write("One HTML file with the key figures, funnel, biggest drop-off, touchpoint scores, "
             "insights, what goes with them (drivers, control limits, conformance) and a journey map. It needs no internet and no app to open, and prints "
             "cleanly.")
    st.caption(f"Dataset **{plain(info.name)}** · "
               + plain(describe(event_filter, grouping_columns(info))) + " (filters in the sidebar)")
    maps = ms.list_maps(cur)
    linked = [m for m in maps if m.dataset == info.name]
    options = [NO_MAP] + [m.map_id for m in linked] + [m.map_id for m in maps if m not in linked]
    names = {m.map_id: m for m in maps}
    left, right = st.columns([3, 2])
    with left:
        title = st.text_input("Title", value=f"Customer journey report: {info.name}",
                              key="report_title")
    with right:
        chosen = st.selectbox(
            "Journey map to include", options, index=1 if linked else 0, key="report_map",
            format_func=lambda i: i if i == NO_MAP else
            f"{names[i].name} · v{names[i].latest_version}"
            + (" (this dataset)" if names[i].dataset == info.name else ""))
    stored = None if chosen == NO_MAP else ms.load_map(cur, chosen)
    settings = (info.cache_key, event_filter, title,
                None if stored is None else (stored.map_id, stored.version))
    if st.button("Build report", type="primary", icon=":material/description:", key="report_build"):
        try:
            with st.spinner("Drawing the charts…"):
                page = spark_run.run_on(info, cur, lambda source: build_report_html(
                    source, info, journey_map=None if stored is None else stored.journey_map,
                    event_filter=event_filter, title=title), "the report's figures")
        except CxDataError as exc:
            st.error(plain(str(exc)))
            return
        st.session_state[REPORT] = (settings, page)
    built = st.session_state.get(REPORT)
    if built is None:
        return
    built_settings, page = built
    if built_settings != settings:
        st.info("The settings changed since the report was built: build it again to include them.")
    st.download_button("Download report (HTML)", data=page.encode("utf-8"),
                       file_name=f"{file_stem(title)}.html", mime="text/html",
                       icon=":material/download:", on_click="ignore", key="report_download")
    st.caption(f"{len(page.encode('utf-8')) / 1024:,.0f} KB · preview below")
    # The report is our own markup, every data value escaped, without any script; its
    # Content-Security-Policy forbids scripts and fetching anything.
    st.iframe(page, height=900)


main()
