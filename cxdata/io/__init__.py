"""Reading logs in: file formats and sources, role guessing, ingest and validation, the sample.

Depends only on the foundation modules (`cxdata.errors`, `cxdata.sql`, `cxdata.formatting`)
and on `cxdata.store.timelines`, which ingest refreshes after writing a dataset.
"""
