"""The map page's "Does reality follow the map?" section (SPEC §8.5).

:func:`conformance_section` draws, for a journey map linked to a dataset: one card per
class (customers, share, how many reached the map's last stage, NPS with n and interval),
the class and deviation bar charts with their downloads, and per deviation a sentence
with its figures and an "Add to pain points" button.  The numbers come from
:func:`cxdata.why.conformance.conformance`, cached per dataset version; this module only
draws them.
"""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from cxdata.presentation.charts_conformance import class_bars, deviation_bars
from cxdata.formatting import format_count, format_interval, format_percent, format_score
from cxdata.sql import EventFilter
from cxdata.ui import cached
from cxdata.ui.downloads import chart_with_downloads
from cxdata.ui.filters import plain
from cxdata.why.conformance import CLASSES, deviation_sentence

#: What each class means, under its card.
CLASS_HELP = {
    "follows": "first visits in map order, no stage skipped, never a step back (may stop early)",
    "skips": "reached a stage before an earlier stage of the map",
    "out of order": "first visited a later stage before an earlier one",
    "loops back": "stepped back to an earlier stage of the map",
}


def _nps_line(row: dict) -> str:
    n = int(row["nps_n"])
    if n == 0:
        return "NPS: no answers"
    interval = ("" if n < 2 else
                f", 95% {format_interval('nps', row['nps_ci_low'], row['nps_ci_high'])}")
    return f"NPS {format_score('nps', row['nps'])} (n = {format_count(n)}{interval})"


def _class_cards(result, last_stage: str) -> None:
    columns = st.columns(len(CLASSES))
    for column, row in zip(columns, result.classes.to_dict("records")):
        with column.container(border=True):
            st.metric(row["class"].capitalize(), format_count(row["customers"]),
                      help=CLASS_HELP[row["class"]])
            st.markdown(f"{format_percent(row['share'])} of customers  \n"
                        f"{format_percent(row['converted_share'])} reached {plain(last_stage)}  \n"
                        f"{_nps_line(row)}")


def conformance_section(info, jmap, ef: EventFilter | None,
                        on_pin: Callable[[str, str], None]) -> None:
    """Draw the conformance of ``info``'s dataset (a :class:`~cxdata.store.workspace.DatasetInfo`)
    to the stages of ``jmap`` (a :class:`~cxdata.maps.journey_map.JourneyMap`), after the
    event filter ``ef``.  ``on_pin(text, stage)`` is each "Add to pain points" button's
    ``on_click`` callback (it runs before the rerun), with a sentence carrying the
    deviation's figures (:func:`cxdata.why.conformance.deviation_sentence`) and the stage
    the deviation leads to."""
    st.subheader("Does reality follow the map?")
    stages = jmap.stage_names()
    if not stages:
        st.info("Add stages to the map to compare it with what customers did.")
        return
    try:
        result = cached.call(info, "why.conformance", "conformance", list(stages), event_filter=ef)
    except ValueError as exc:
        st.warning(plain(str(exc)))
        return
    if result.customers == 0:
        st.info("No customer of this dataset visited a stage of the map (with the current "
                "filters). The map's stages must be stage values of the data.")
        return
    last_stage = result.stages[-1]
    st.caption(f"{format_count(result.customers)} customers who visited a stage of the map, "
               f"compared with its order ({plain(' → '.join(result.stages))}). Associations, not "
               "causes: customers who leave the map may differ in other ways.")
    _class_cards(result, last_stage)
    chart_with_downloads(cached.chart(class_bars, result.classes, last_stage,
                                      title="Customers per class"),
                         "Conformance classes",
                         key="why_map_classes", data=result.classes)
    if result.deviations.empty:
        st.success("No deviations: every customer follows the map.")
        return
    chart_with_downloads(cached.chart(deviation_bars, result.deviations, last_stage),
                         "Deviations from the map",
                         key="why_map_deviations", data=result.deviations)
    follows = result.class_row("follows")
    st.markdown("**Deviations worth a pain point**")
    for index, row in enumerate(result.deviations.to_dict("records")):
        sentence = deviation_sentence(row, follows, last_stage)
        with st.container(horizontal=True, vertical_alignment="center", wrap=False,
                          key=f"why_map_deviation_{index}"):
            st.markdown(plain(sentence), width="stretch")
            st.button("Add to pain points", key=f"why_map_pin_{index}", on_click=on_pin,
                      args=(sentence, str(row["to"])), icon=":material/push_pin:", width="content",
                      help="Add this sentence, with its figures, to the map's pain-point lane.")
