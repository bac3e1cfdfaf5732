"""CX Journey Lab — entry point: page config, navigation, and the sidebar dataset picker.

Run with ``streamlit run app.py``.  Pages live in ``pages/``; they only wire widgets to
``cxdata`` functions and charts.
"""
import streamlit as st

from cxdata.errors import CxDataError
from cxdata.ui import auth, spark_run
from cxdata.ui.filters import app_filter_bar
from cxdata.ui.state import error_text, get_workspace, sidebar_dataset_picker

# An emoji favicon is drawn in the browser; a ":material/…:" one is fetched from an outside
# font host, and the app must not make requests beyond its own server.
st.set_page_config(page_title="CX Journey Lab", page_icon="🧭", layout="wide")

# Each url_path is its file's name: Streamlit identifies pages by URL path, so a direct
# link opened before the navigation exists resolves to the same page (see cxdata/ui/state.py).
PAGES = {
    "Analyse": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", url_path="home",
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
        # The default page is served at "/" (its own url_path is never shown); this hidden
        # twin keeps shared links to /overview working: without it a fresh session opened
        # on /overview got Streamlit's "Page not found" notice.
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", url_path="overview",
                visibility="hidden"),
    ],
}

#: Pages that call ``cxdata.ui.filters.filter_bar``.  The app draws their filter bar before
#: running the page, so that its widgets belong to the app rather than to one page: their
#: URL parameters then survive page switches and browser Back (Streamlit drops a page's
#: own bound parameters when the user leaves the page).  A page not listed here draws its
#: filter bar itself.  "" is the default page (the Overview at "/").
FILTERED_PAGES = {"", "overview", "funnel", "touchpoints", "paths", "report"}

# With sign-in configured ([auth] in the secrets, docs/deploy.md), nobody sees a page, the
# navigation or any data before signing in.
page = st.navigation(PAGES, position="sidebar" if auth.is_allowed() else "hidden")
get_workspace()     # first, as it also leaves Streamlit's pages-folder mode on a first visit
auth.require_login()
current = None
# Presentation mode (journey map) hides the sidebar picker along with the other chrome.
if st.query_params.get("present") != "1":
    st.sidebar.markdown("### CX Journey Lab")
    current = sidebar_dataset_picker()
    spark_run.sidebar_note(current)     # a connected dataset: on Spark, and which sample
try:
    app_filter_bar(current if page.url_path in FILTERED_PAGES else None)
    page.run()
except CxDataError as exc:
    # A sentence for what the user can act on (e.g. work past the memory limit), never a
    # traceback; Streamlit's own stop and rerun signals are not CxDataErrors and pass.
    st.error(error_text(exc))
