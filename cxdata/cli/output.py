"""Printing a result as text, JSON or CSV (SPEC §6): NaN and infinities as null, numbers as numbers."""
from __future__ import annotations

import json
import math
import sys

import pandas as pd



def clean_value(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _json_default(value):
    cleaned = clean_value(value)
    if cleaned is value:
        return str(value)
    return cleaned


def emit(args, payload: dict, table: pd.DataFrame | None, text: str) -> None:
    """Write ``payload`` (json), ``table`` (csv) or ``text`` to stdout."""
    if args.format == "json":
        sys.stdout.write(json.dumps(deep_clean(payload), ensure_ascii=False, default=_json_default, indent=2) + "\n")
    elif args.format == "csv":
        from cxdata.presentation.export import csv_bytes
        sys.stdout.flush()
        sys.stdout.buffer.write(csv_bytes(table if table is not None else pd.DataFrame(), excel_bom=False))
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def deep_clean(obj):
    if isinstance(obj, dict):
        return {k: deep_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [deep_clean(v) for v in obj]
    return clean_value(obj)


def percent_text(x) -> str:
    """A fraction as a percent; "—" when there is none (nothing to divide by, SPEC §6)."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"
