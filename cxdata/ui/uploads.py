"""Uploaded files: streamed to a temporary file once per upload, inspected once."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from cxdata.io import schema
from cxdata.io.ingest import FileInspection, inspect_file
from cxdata.io.profile import ColumnProfile, profile_file

_STAGED = "_staged_uploads"
#: The role pickers' choice for "this role has no column".
NONE = "— none —"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StagedUpload:
    path: str
    token: str


class StagedFiles(dict):
    """The session's staged copies, ``{token: path}``.  Every copy still on disk is deleted
    when this object goes (the session ends and its state is dropped) or the process
    exits, so no ``cxdata-upload-*`` file outlives the session that made it."""

    def __init__(self):
        super().__init__()
        self._finalizer = weakref.finalize(self, _remove_files, self._paths())

    def _paths(self) -> list[str]:
        # The finalizer must not hold the object itself: a list shared with it instead.
        self.__dict__.setdefault("_all_paths", [])
        return self.__dict__["_all_paths"]

    def __setitem__(self, token, path) -> None:
        super().__setitem__(token, path)
        if path not in self._paths():
            self._paths().append(path)


def _remove_files(paths: list[str]) -> None:
    for path in list(paths):
        try:
            os.unlink(path)
        except OSError:
            pass


def _staged() -> StagedFiles:
    staged = st.session_state.get(_STAGED)
    if not isinstance(staged, StagedFiles):
        staged = StagedFiles()
        st.session_state[_STAGED] = staged
    return staged


def _suffix(name: str) -> str:
    suffixes = [s for s in Path(name).suffixes if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", s)]
    return "".join(suffixes[-2:]) if suffixes else ""


def upload_token(upload) -> str:
    return str(getattr(upload, "file_id", None) or f"{upload.name}-{upload.size}")


def stage_upload(upload) -> StagedUpload:
    """Copy an ``UploadedFile`` to a temporary file (1 MB at a time), once per upload; a
    copy deleted after an import (:func:`discard_staged`) is made again when needed."""
    staged = _staged()
    token = upload_token(upload)
    path = staged.get(token)
    if path is None or not os.path.exists(path):
        fd, path = tempfile.mkstemp(suffix=_suffix(upload.name), prefix="cxdata-upload-")
        upload.seek(0)
        with os.fdopen(fd, "wb") as target:
            shutil.copyfileobj(upload, target, _CHUNK)
        staged[token] = path
    return StagedUpload(path, token)


def discard_staged(token: str) -> None:
    """Delete the staged copy of upload ``token`` (after its import): the upload itself
    stays in the session, so a new import stages it again."""
    path = _staged().get(token)
    if path:
        _remove_files([path])


def keep_only(uploads_now) -> None:
    """Delete the staged copies of uploads no longer in the file uploader."""
    current = {upload_token(u) for u in uploads_now or []}
    staged = _staged()
    for token in [t for t in staged if t not in current]:
        _remove_files([staged.pop(token)])


def inspect_upload(upload) -> tuple[StagedUpload, FileInspection]:
    """The staged upload and its inspection; the copy is made only when the cached
    inspection is missing (so a page rerun after an import does not copy the file again)."""
    staged = _staged()
    token = upload_token(upload)
    path = staged.get(token)
    if path is not None:
        try:
            return StagedUpload(path, token), inspect_cached(path, token)
        except Exception:
            pass        # not cached, and the copy was deleted: stage it again
    current = stage_upload(upload)
    return current, inspect_cached(current.path, current.token)


def token_for(path: str) -> str | None:
    for token, staged_path in _staged().items():
        if staged_path == path:
            return token
    return None


@st.cache_data(show_spinner="Reading the first rows…", max_entries=32)
def inspect_cached(path: str, token: str) -> FileInspection:
    """:func:`cxdata.io.ingest.inspect_file`, cached per upload (``token``)."""
    return inspect_file(path)


@st.cache_data(show_spinner="Counting the values of each column…", max_entries=32)
def profile_cached(path: str, token: str) -> ColumnProfile:
    """:func:`cxdata.io.profile.profile_file`, cached per upload (``token``): read once, then
    every change of a role picker reuses it."""
    return profile_file(path)


def suggest_name(file_name: str) -> str:
    """A readable dataset name from a file name: ``web_log-2025.csv.gz`` -> ``web log-2025``."""
    stem = file_name
    for _ in range(2):
        stem = re.sub(r"\.(csv|tsv|txt|gz|parquet|json|ndjson|jsonl|xlsx)$", "", stem, flags=re.I)
    return (stem.replace("_", " ").strip() or "Uploaded log")[:80]


#: Megabytes a log may hold once decompressed, per megabyte of the upload limit: a
#: compressed log is typically 5–10 times smaller than its text.
EXPANSION_PER_UPLOAD = 10


def app_max_bytes() -> int | None:
    """The most bytes an uploaded log may hold once decompressed: ``$CXDATA_MAX_BYTES``
    when set, else :data:`EXPANSION_PER_UPLOAD` × the upload limit (server.maxUploadSize)."""
    from cxdata.io.sources import MAX_BYTES_ENV, max_bytes_from_env
    if os.environ.get(MAX_BYTES_ENV):
        return max_bytes_from_env()
    return EXPANSION_PER_UPLOAD * int(st.get_option("server.maxUploadSize")) * (1 << 20)


def role_pickers(columns: list[str], guesses: dict[str, str], key: str) -> dict[str, str]:
    """One picker per role (SPEC §1) over ``columns``, each starting at its guess; returns
    ``{role: column}`` of the roles given a column.  Used for uploads and Spark sources."""
    st.markdown("**Columns → roles** (guessed from the names; required roles are marked ✱)")
    options = [NONE] + list(columns)
    roles: dict[str, str] = {}
    cols = st.columns(5)
    for i, role in enumerate(schema.ROLES):
        guess = guesses.get(role)
        label = schema.ROLE_LABELS[role] + (" ✱" if role in schema.REQUIRED_ROLES else "")
        choice = cols[i % 5].selectbox(label, options, index=options.index(guess) if guess in options else 0,
                                       key=f"{key}_role_{role}")
        if choice != NONE:
            roles[role] = choice
    return roles


def as_overrides(roles: dict[str, str]) -> dict[str, str | None]:
    """The pickers' mapping as ingest overrides: every role, None for "— none —", so that
    a role the user left without a column is not guessed again."""
    return {role: roles.get(role) for role in schema.ROLES}
