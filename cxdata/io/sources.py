"""Recognise a log file's format and encoding, and open it as a DuckDB relation.

Every reader yields the same shape: all source columns as VARCHAR plus ``_ord``, the
1-based position of the record among the records the reader could parse (file order).
For CSV ``_ord`` is NULL: numbering the records in the scan (``WITH ORDINALITY``) would
force DuckDB to read on one thread, so the position is taken afterwards from the order
rows were inserted in (``OpenedSource.ord_from_insertion_order``).
Large files are read by DuckDB straight from disk; only XLSX (at most about a million
rows by the format's own limit) goes through openpyxl.
"""
from __future__ import annotations

import codecs
import csv
import re
import gzip
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cxdata.errors import UnusableInput
from cxdata.sql import quote_ident

TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".tab", ".dat"}
JSON_SUFFIXES = {".json", ".ndjson", ".jsonl"}
#: Largest single line DuckDB will read, in bytes (comments can be long; see tests).
MAX_LINE_BYTES = 64 * 1024 * 1024
_SNIFF_BYTES = 1 << 20
#: DuckDB's CSV read buffer, in bytes.  Left to DuckDB it grows with max_line_size (to
#: 16 × 64 MB, capped by the file size), so a 1 GB file was read into one 1 GB buffer;
#: one line must still fit, hence exactly MAX_LINE_BYTES.
CSV_BUFFER_BYTES = MAX_LINE_BYTES
# Python's csv module (used to sniff the dialect from the first lines) refuses a field over
# 131,072 characters by default, so one long comment near the top stopped the whole file.
# The sniffed text is at most a few MB, so a field may be as long as a line DuckDB reads.
if csv.field_size_limit() < MAX_LINE_BYTES:
    csv.field_size_limit(MAX_LINE_BYTES)


@dataclass
class SourceFormat:
    """What a file is: ``kind`` is csv, json, parquet or xlsx."""
    kind: str
    encoding: str = "utf-8"
    compression: str = "none"
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = {"csv": "delimited text", "json": "JSON", "parquet": "Parquet",
                "xlsx": "Excel workbook"}[self.kind]
        if self.kind in ("csv", "json"):
            text += ", " + {"utf-8": "UTF-8", "latin-1": "Latin-1"}.get(self.encoding, "UTF-16")
        if self.compression == "gzip":
            text += ", gzip-compressed"
        return text


def _head(path: Path, size: int = _SNIFF_BYTES) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _gz_head(path: Path, size: int = _SNIFF_BYTES) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(size)
    except (OSError, EOFError) as exc:
        raise UnusableInput(f"The file looks gzip-compressed but could not be decompressed ({exc}).")


def _text_encoding(head: bytes) -> str:
    """Guess the encoding of text from its first bytes: UTF-16 by BOM or by the NUL
    pattern of ASCII text, UTF-8 when the sample decodes, else Latin-1 (decodes any byte)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    half = len(sample) // 2
    if half >= 8:
        even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
        # ASCII text in UTF-16: one byte of every pair is NUL, the other almost never.
        if odd_nuls > 0.9 * half and even_nuls < 0.1 * half:
            return "utf-16-le"
        if even_nuls > 0.9 * half and odd_nuls < 0.1 * half:
            return "utf-16-be"
    try:
        # An incremental decoder tolerates a multi-byte character cut at the sample's end.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"


def _looks_binary(text_head: bytes, encoding: str) -> bool:
    if encoding.startswith("utf-16"):
        return False
    sample = text_head[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control > max(8, len(sample) // 100)


def detect_format(path: str | os.PathLike) -> SourceFormat:
    """Recognise the format of ``path`` by its bytes (the suffix only breaks ties).

    Raises :class:`UnusableInput` for an empty, binary or unsupported file.
    """
    path = Path(path)
    if not path.exists():
        raise UnusableInput(f"The file {path} does not exist.")
    if path.is_dir():
        raise UnusableInput(f"{path} is a folder, not a file.")
    head = _head(path)
    if not head.strip():
        raise UnusableInput("The file is empty: it has no header and no rows.")
    suffixes = [s.lower() for s in path.suffixes]
    if head.startswith(b"PAR1"):
        return SourceFormat("parquet")
    if head.startswith(b"PK\x03\x04"):
        # A ZIP container: XLSX is the only zipped format we read; openpyxl says if it is not.
        return SourceFormat("xlsx")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnusableInput("This is an old Excel .xls file; save it as .xlsx or CSV and upload again.")
    compression = "none"
    inner = suffixes[:-1] if suffixes and suffixes[-1] == ".gz" else suffixes
    if head.startswith(b"\x1f\x8b"):
        compression = "gzip"
        head = _gz_head(path)
        if not head.strip():
            raise UnusableInput("The file is empty once decompressed: it has no header and no rows.")
    encoding = _text_encoding(head)
    if _looks_binary(head, encoding):
        raise UnusableInput("This is not a text, JSON, Parquet or Excel file (it holds binary data); "
                            "export the log as CSV, JSON, Parquet or XLSX.")
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff \t\r\n")
    if text[:1] in "[{" or (inner and inner[-1] in JSON_SUFFIXES):
        if encoding.startswith("utf-16"):
            raise UnusableInput("JSON files must be UTF-8; save the file as UTF-8 and upload again.")
        return SourceFormat("json", encoding=encoding, compression=compression)
    return SourceFormat("csv", encoding=encoding, compression=compression)


@dataclass
class OpenedSource:
    """A source file opened in DuckDB: ``relation_sql`` selects every column as VARCHAR
    plus ``_ord``; ``structural_rejects`` lists records the reader could not parse as
    ``(row, raw_line, reason)``; ``columns`` are the source column names in order."""
    fmt: SourceFormat
    relation_sql: str
    params: list
    columns: list[str]
    structural_rejects: list[tuple[int, str, str]]
    header_lines: int = 1
    cleanup: list[str] = field(default_factory=list)
    #: True when ``_ord`` is NULL and a table filled from ``relation_sql`` (in one
    #: statement, insertion order preserved) has the records in file order: ``rowid + 1``.
    ord_from_insertion_order: bool = False
    #: The same relation with ``_ord`` counted during the scan (one thread), for when
    #: the insertion order cannot be relied on.
    numbered_relation_sql: str | None = None

    def close(self) -> None:
        for path in self.cleanup:
            try:
                os.unlink(path)
            except OSError:
                pass


def _varchar_projection(columns: list[str], types: list[str] | None = None) -> str:
    """Every column as VARCHAR; nested values (structs, lists, maps) as JSON text."""
    parts = []
    for i, column in enumerate(columns):
        kind = (types[i] if types else "VARCHAR").upper()
        nested = kind.startswith(("STRUCT", "MAP", "UNION")) or kind.endswith("]") or kind == "JSON"
        expr = f"to_json({quote_ident(column)})" if nested else quote_ident(column)
        parts.append(f"CAST({expr} AS VARCHAR) AS {quote_ident(column)}")
    return ", ".join(parts)


def _check_columns(columns: list[str]) -> None:
    if not columns:
        raise UnusableInput("No columns were found in the file.")


def _csv_options(fmt: SourceFormat) -> str:
    # Values are constants chosen here, never user text, so they are written inline.
    options = ["all_varchar = true", f"max_line_size = {MAX_LINE_BYTES}",
               "store_rejects = true", f"encoding = '{fmt.encoding}'",
               "null_padding = false", "strict_mode = false"]
    if fmt.compression == "gzip":
        options.append("compression = 'gzip'")
    return ", ".join(options)


_DELIMITERS = (",", ";", "\t", "|")
_VALUE_PATTERN = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}.*)\s*$")


def _text_head(path: Path, fmt: SourceFormat, limit: int = 4 << 20) -> str:
    """Up to ``limit`` bytes of the (decompressed) file, decoded; the first line whole."""
    opener = gzip.open if fmt.compression == "gzip" else open
    with opener(path, "rb") as handle:
        data = handle.read(limit)
    text = data.decode(fmt.encoding, errors="replace").lstrip("\ufeff")
    if len(data) == limit and "\n" in text:
        text = text[: text.rindex("\n")]  # drop the cut-off last line
    return text


def sniff_dialect(text: str) -> tuple[str, bool, list[str]]:
    """Guess ``(delimiter, has_header, column_names)`` from the start of a text file.

    The delimiter is the candidate whose field count is the same on most of the first
    200 records (ties: more fields).  A first record with a number or a date in it is
    data, not a header.  Duplicate names get ``_1``, ``_2`` … as DuckDB would.
    """
    lines = text.splitlines()[:200] or [""]
    best = (",", -1.0, 0)
    for delimiter in _DELIMITERS:
        counts = [len(r) for r in csv.reader(lines, delimiter=delimiter, quotechar='"') if r]
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        share = counts.count(mode) / len(counts)
        if mode > 1 and (share, mode) > (best[1], best[2]):
            best = (delimiter, share, mode)
    delimiter = best[0]
    first = next(csv.reader(lines[:1], delimiter=delimiter, quotechar='"'), [])
    has_header = bool(first) and not any(_VALUE_PATTERN.match(f) for f in first if f.strip())
    if has_header:
        names = _dedupe([f.strip() or f"column{i + 1}" for i, f in enumerate(first)])
    else:
        names = [f"column{i + 1}" for i in range(len(first))]
    return delimiter, has_header, names


def open_csv(cur, path: Path, fmt: SourceFormat, reject_table: str) -> OpenedSource:
    """Open a delimited text file: dialect sniffed here, rows read by DuckDB in strict
    mode so that a line with the wrong number of fields is rejected, not truncated."""
    cleanup: list[str] = []
    read_fmt = fmt
    if fmt.encoding.startswith("utf-16"):
        # A streamed UTF-8 copy keeps one reading path for every encoding.
        path = Path(_transcode_to_utf8(path, fmt.encoding, fmt.compression))
        cleanup.append(str(path))
        read_fmt = SourceFormat("csv", "utf-8", "none")
    delimiter, has_header, columns = sniff_dialect(_text_head(path, read_fmt))
    _check_columns(columns)
    if len(columns) == 1 and not has_header:
        raise UnusableInput("The file has a single unnamed column; it needs a header row naming the columns.")
    options = ["header = ?", "delim = ?", "quote = '\"'", "escape = '\"'", "auto_detect = false",
               "columns = ?", f"max_line_size = {MAX_LINE_BYTES}", f"buffer_size = {CSV_BUFFER_BYTES}",
               "strict_mode = true",
               "store_rejects = true", f"rejects_table = '{reject_table}'",
               f"rejects_scan = '{reject_table}_scan'", f"encoding = '{read_fmt.encoding}'"]
    if read_fmt.compression == "gzip":
        options.append("compression = 'gzip'")
    params = [str(path), has_header, delimiter, {c: "VARCHAR" for c in columns}]
    reader = f"read_csv(?, {', '.join(options)})"
    # No WITH ORDINALITY by default: it makes the scan single-threaded (see
    # ord_from_insertion_order); the numbered form is kept as the fallback.
    relation = f"SELECT {_varchar_projection(columns)}, CAST(NULL AS BIGINT) AS _ord FROM {reader}"
    numbered = (f"SELECT {_varchar_projection(columns)}, CAST(ordinality AS BIGINT) AS _ord "
                f"FROM {reader} WITH ORDINALITY")
    names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
    fmt.notes.append(f"{names[delimiter]}-delimited" + ("" if has_header else ", no header row"))
    return OpenedSource(fmt, relation, params, columns, [], 1 if has_header else 0, cleanup,
                        ord_from_insertion_order=True, numbered_relation_sql=numbered)


def collect_csv_rejects(cur, reject_table: str, header_lines: int) -> list[tuple[int, str, str]]:
    """Records the CSV reader rejected, as ``(row, raw_line, reason)``; row = line − header."""
    try:
        rows = cur.execute(f"SELECT line, csv_line, error_type, error_message FROM {quote_ident(reject_table)} "
                           "ORDER BY line").fetchall()
    except Exception:
        return []
    seen: dict[int, tuple[int, str, str]] = {}
    for line, raw, error_type, message in rows:
        row = int(line) - header_lines
        if row not in seen:
            reason = _csv_reason(error_type, message)
            seen[row] = (row, raw or "", reason)
    return list(seen.values())


def _csv_reason(error_type: str, message: str) -> str:
    kind = (error_type or "").upper()
    if "TOO MANY" in kind:
        return "the line has more fields than the header"
    if "MISSING" in kind or "TOO FEW" in kind:
        return "the line has fewer fields than the header"
    if "UNQUOTED" in kind or "QUOTE" in kind:
        return "a quote is not closed on this line"
    if "ENCODING" in kind:
        return "the line has bytes that are not valid in the file's encoding"
    if "LINE SIZE" in kind:
        return f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB"
    return _first_line(message) or kind.lower()


def _first_line(exc_or_text) -> str:
    text = str(exc_or_text).strip()
    return text.splitlines()[0][:300] if text else ""


def _transcode_to_utf8(path: Path, encoding: str, compression: str) -> str:
    """Stream a text file into a UTF-8 temporary file, 1 MB at a time."""
    opener = gzip.open if compression == "gzip" else open
    fd, target = tempfile.mkstemp(suffix=".csv", prefix="cxdata-utf8-")
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with opener(path, "rb") as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(decoder.decode(chunk).encode("utf-8"))
        dst.write(decoder.decode(b"", final=True).encode("utf-8"))
    return target


def open_json(cur, path: Path, fmt: SourceFormat) -> OpenedSource:
    """Open a JSON array of objects or NDJSON; nested values are kept as JSON text."""
    comp = ", compression = 'gzip'" if fmt.compression == "gzip" else ""
    source = f"read_json(?, format = 'auto', records = true, maximum_object_size = {MAX_LINE_BYTES}{comp})"
    try:
        described = cur.execute(f"DESCRIBE SELECT * FROM {source}", [str(path)]).fetchall()
    except Exception as exc:
        detail = _first_line(exc).split("Error: ", 1)[-1]
        raise UnusableInput("The file could not be read as JSON; it must be an array of objects or one "
                            f"object per line ({detail}).")
    columns = [row[0] for row in described]
    types = [row[1] for row in described]
    _check_columns(columns)
    if columns == ["json"]:
        raise UnusableInput("The JSON file does not hold objects with named fields; "
                            "it must be an array of objects or one object per line.")
    relation = (f"SELECT {_varchar_projection(columns, types)}, CAST(ordinality AS BIGINT) AS _ord "
                f"FROM {source} WITH ORDINALITY")
    return OpenedSource(fmt, relation, [str(path)], columns, [], 0)


def open_parquet(cur, path: Path, fmt: SourceFormat) -> OpenedSource:
    """Open a Parquet file; ``file_row_number`` gives the file order."""
    try:
        described = cur.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    except Exception as exc:
        raise UnusableInput(f"The Parquet file could not be read: {_first_line(exc)}")
    columns = [row[0] for row in described]
    _check_columns(columns)
    relation = (f"SELECT {_varchar_projection(columns, [row[1] for row in described])}, "
                "CAST(file_row_number + 1 AS BIGINT) AS _ord FROM read_parquet(?, file_row_number = true)")
    return OpenedSource(fmt, relation, [str(path)], columns, [], 0)


def open_xlsx(cur, path: Path, fmt: SourceFormat, sheet: str | int | None = None) -> OpenedSource:
    """Open the first non-empty sheet (or ``sheet``) of an XLSX workbook.

    The sheet is converted to a temporary Parquet file so that DuckDB does the rest.
    """
    try:
        import openpyxl
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise UnusableInput(f"The Excel workbook could not be opened: {_first_line(exc)}")
    try:
        sheets = book.worksheets
        chosen = None
        if sheet is not None:
            chosen = book[sheet] if isinstance(sheet, str) else sheets[sheet]
        rows_iter = None
        for ws in ([chosen] if chosen is not None else sheets):
            rows_iter = ws.iter_rows(values_only=True)
            first = next(rows_iter, None)
            while first is not None and all(v is None or str(v).strip() == "" for v in first):
                first = next(rows_iter, None)
            if first is not None:
                header = first
                break
        else:
            raise UnusableInput("The workbook's sheets are empty: there is no header row and no data.")
        columns = _dedupe([("" if v is None else str(v).strip()) or f"column{i + 1}" for i, v in enumerate(header)])
        records = []
        for values in rows_iter:
            if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            records.append([_excel_text(v) for v in values[: len(columns)]] + [None] * (len(columns) - len(values)))
    finally:
        book.close()
    frame = pd.DataFrame(records, columns=columns, dtype="object")
    fd, target = tempfile.mkstemp(suffix=".parquet", prefix="cxdata-xlsx-")
    os.close(fd)
    frame.astype("string").to_parquet(target, index=False)
    fmt.notes.append(f"sheet {ws.title!r}")
    relation = (f"SELECT {_varchar_projection(columns)}, CAST(file_row_number + 1 AS BIGINT) AS _ord "
                "FROM read_parquet(?, file_row_number = true)")
    return OpenedSource(fmt, relation, [target], columns, [], 1, [target])


def _excel_text(value) -> str | None:
    """Excel cell -> text; whole floats lose their ``.0`` and datetimes become ISO-8601."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            out.append(candidate)
            seen[candidate] = 0
        else:
            seen[name] = 0
            out.append(name)
    return out


#: Environment variable with the most bytes a log may hold once decompressed (see
#: :func:`check_expanded_size`); unset means no limit.
MAX_BYTES_ENV = "CXDATA_MAX_BYTES"
_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20,
               "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40,
               "TIB": 1 << 40}


def parse_size(text: str | int | None) -> int | None:
    """``"2G"``, ``"500MB"``, ``"1048576"`` -> bytes (binary units); empty, ``0`` or
    ``none`` -> None (no limit).  Raises ValueError for anything else."""
    if text is None:
        return None
    if isinstance(text, int):
        return text if text > 0 else None
    clean = str(text).strip().upper().replace(" ", "")
    if clean in ("", "0", "NONE"):
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Z]*)", clean)
    if not found or found.group(2) not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size; write bytes or a number with K, M, G or T, such as 2G.")
    return int(float(found.group(1)) * _SIZE_UNITS[found.group(2)]) or None


def max_bytes_from_env() -> int | None:
    """The limit of ``$CXDATA_MAX_BYTES`` (None when unset or 0)."""
    try:
        return parse_size(os.environ.get(MAX_BYTES_ENV))
    except ValueError as exc:
        raise UnusableInput(f"The environment variable {MAX_BYTES_ENV}: {exc}") from None


def _human_bytes(size: int) -> str:
    for unit, factor in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:,.1f} {unit}".replace(".0 ", " ")
    return f"{size:,} bytes"


def check_expanded_size(path: str | os.PathLike, max_bytes: int | None) -> None:
    """Raise :class:`UnusableInput` when ``path`` holds more than ``max_bytes`` bytes once
    decompressed (a small gzip file can expand to gigabytes).  A gzip file is decompressed
    in a stream and counted, stopping as soon as the limit is passed; any other file is
    judged by its size on disk.  ``max_bytes`` None: no limit."""
    if not max_bytes:
        return
    path = Path(path)
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    if not compressed:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnusableInput(f"The file holds {_human_bytes(size)}, more than this installation "
                                f"reads ({_human_bytes(max_bytes)}); split it, or raise the limit "
                                f"(--max-bytes, or the environment variable {MAX_BYTES_ENV}).")
        return
    total = 0
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
                if total > max_bytes:
                    raise UnusableInput(
                        f"The file expands to more than {_human_bytes(max_bytes)} once decompressed, "
                        "more than this installation reads; decompress and split it, or raise the "
                        f"limit (--max-bytes, or the environment variable {MAX_BYTES_ENV}).")
    except (OSError, EOFError) as exc:
        raise UnusableInput(f"The file looks gzip-compressed but could not be decompressed ({exc}).")


def open_source(cur, path: str | os.PathLike, reject_table: str, sheet=None) -> OpenedSource:
    """Detect the format of ``path`` and open it (see :class:`OpenedSource`)."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt.kind == "parquet":
        return open_parquet(cur, path, fmt)
    if fmt.kind == "xlsx":
        return open_xlsx(cur, path, fmt, sheet)
    if fmt.kind == "json":
        return open_json(cur, path, fmt)
    return open_csv(cur, path, fmt, reject_table)


def preview_rows(cur, opened: OpenedSource, limit: int = 20) -> pd.DataFrame:
    """The first ``limit`` records as text, for the Data page's preview."""
    return cur.execute(f"SELECT * EXCLUDE (_ord) FROM ({opened.relation_sql}) LIMIT {int(limit)}",
                       opened.params).df()


def read_bytes_as_file(data: bytes, suffix: str) -> str:
    """Write bytes to a temporary file (tests and small uploads); returns its path."""
    fd, target = tempfile.mkstemp(suffix=suffix, prefix="cxdata-upload-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return target


