"""Download buttons for tables, safe for spreadsheets."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata.export import csv_bytes


def csv_download(frame: pd.DataFrame, file_name: str, label: str = "Download CSV", key: str | None = None) -> None:
    """A download button for ``frame`` as CSV (formula-like text neutralised)."""
    st.download_button(label, csv_bytes(frame), file_name=file_name, mime="text/csv", key=key,
                       icon=":material/download:", on_click="ignore")
