"""CX Journey Lab — entry point: page config, navigation, and the sidebar dataset picker.

Run with ``streamlit run app.py``.  Pages live in ``pages/``; they only wire widgets to
``cxdata`` functions and charts.
"""
import streamlit as st

from cxdata.ui.state import get_workspace, sidebar_dataset_picker

st.set_page_config(page_title="CX Journey Lab", page_icon=":material/route:", layout="wide")

# Each url_path is its file's name: Streamlit identifies pages by URL path, so a direct
# link opened before the navigation exists resolves to the same page (see cxdata/ui/state.py).
PAGES = {
    "Analyse": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", url_path="overview",
                default=True),
        st.Page("pages/funnel.py", title="Funnel", icon=":material/filter_alt:", url_path="funnel"),
        st.Page("pages/touchpoints.py", title="Touchpoints", icon=":material/reviews:", url_path="touchpoints"),
        st.Page("pages/paths.py", title="Paths", icon=":material/alt_route:", url_path="paths"),
    ],
    "Workshop": [
        st.Page("pages/journey_map.py", title="Journey map", icon=":material/map:", url_path="journey_map"),
        st.Page("pages/report.py", title="Report", icon=":material/description:", url_path="report"),
        st.Page("pages/join.py", title="Join a workshop", icon=":material/qr_code_2:", url_path="join"),
    ],
    "Data": [
        st.Page("pages/data.py", title="Data", icon=":material/upload_file:", url_path="data"),
    ],
}

page = st.navigation(PAGES)
get_workspace()
# Presentation mode (journey map) hides the sidebar picker along with the other chrome.
if st.query_params.get("present") != "1":
    st.sidebar.markdown("### CX Journey Lab")
    sidebar_dataset_picker()
page.run()
