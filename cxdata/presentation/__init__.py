"""Showing and exporting results: Altair charts, CSV/PNG/SVG/PDF exports, the map's HTML and
the stakeholder report. No Streamlit here (that lives in `cxdata.ui` and `pages/`)."""
