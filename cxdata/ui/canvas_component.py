"""The journey-map canvas as a Streamlit custom component (components v2: HTML, CSS and
JavaScript registered from Python, no iframe, no build step).

The files live in ``cxdata/ui/canvas/``; the map model, its edits and the store stay in
plain Python (:mod:`cxdata.maps.journey_map`, :mod:`cxdata.store.map_store`); the data the canvas
draws is built by :func:`cxdata.presentation.map_canvas.canvas_payload`.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from cxdata.presentation.map_canvas import canvas_css

ASSETS = Path(__file__).resolve().parent / "canvas"


def _read(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


_COMPONENT = st.components.v2.component(
    "cxjl_map_canvas",
    html=_read("canvas.html"),
    css=canvas_css() + "\n" + _read("canvas.css"),
    js=_read("canvas.js"),
)


def map_canvas(payload: dict, *, key: str, on_ops=None):
    """Mount the canvas with ``payload``; ``on_ops`` is called (as a widget callback,
    before the rerun) when the canvas sends edits, which are then in
    ``st.session_state[key].ops`` as ``{"client": id, "ops": [{"seq": n, "op": {…}}]}``.
    Returns the component result."""
    return _COMPONENT(key=key, data=payload, on_ops_change=on_ops or (lambda: None),
                      width="stretch", height="content")
