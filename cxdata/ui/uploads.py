"""Uploaded files: streamed to a temporary file once per upload, inspected once."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from cxdata.ingest import FileInspection, inspect_file
from cxdata.profile import ColumnProfile, profile_file

_STAGED = "_staged_uploads"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StagedUpload:
    path: str
    token: str


def _suffix(name: str) -> str:
    suffixes = [s for s in Path(name).suffixes if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", s)]
    return "".join(suffixes[-2:]) if suffixes else ""


def stage_upload(upload) -> StagedUpload:
    """Copy an ``UploadedFile`` to a temporary file (1 MB at a time), once per upload."""
    staged: dict = st.session_state.setdefault(_STAGED, {})
    token = str(getattr(upload, "file_id", None) or f"{upload.name}-{upload.size}")
    path = staged.get(token)
    if path is None or not os.path.exists(path):
        fd, path = tempfile.mkstemp(suffix=_suffix(upload.name), prefix="cxdata-upload-")
        upload.seek(0)
        with os.fdopen(fd, "wb") as target:
            shutil.copyfileobj(upload, target, _CHUNK)
        staged[token] = path
    return StagedUpload(path, token)


def token_for(path: str) -> str | None:
    for token, staged_path in st.session_state.get(_STAGED, {}).items():
        if staged_path == path:
            return token
    return None


@st.cache_data(show_spinner="Reading the first rows…", max_entries=32)
def inspect_cached(path: str, token: str) -> FileInspection:
    """:func:`cxdata.ingest.inspect_file`, cached per upload (``token``)."""
    return inspect_file(path)


@st.cache_data(show_spinner="Counting the values of each column…", max_entries=32)
def profile_cached(path: str, token: str) -> ColumnProfile:
    """:func:`cxdata.profile.profile_file`, cached per upload (``token``): read once, then
    every change of a role picker reuses it."""
    return profile_file(path)


def suggest_name(file_name: str) -> str:
    """A readable dataset name from a file name: ``web_log-2025.csv.gz`` -> ``web log-2025``."""
    stem = file_name
    for _ in range(2):
        stem = re.sub(r"\.(csv|tsv|txt|gz|parquet|json|ndjson|jsonl|xlsx)$", "", stem, flags=re.I)
    return (stem.replace("_", " ").strip() or "Uploaded log")[:80]
