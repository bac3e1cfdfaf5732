"""CX Journey Lab library: ingest interaction logs and compute journey analytics.

No Streamlit import here or in any module outside ``cxdata.ui``.
"""

__version__ = "0.1.0"
