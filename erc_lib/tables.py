"""Tables for readers: every table a notebook, the report or the tuner shows goes through here.

No Python reprs, no 0, 1, 2 index column, counts as integers, missing values as "–"; Markdown tables
for ``docs/results.md`` and the tuner's summaries. Depends on pandas only, so every layer may use it.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd


#: Column names that hold counts (seeds, utterances, ...): shown as integers, never ``1.0``.
COUNT_COLUMNS = re.compile(r"^(n|n_\w+|seeds|count|counts|dialogues|utterances|speakers|fits|epochs?(?: run| trained)?|best[ _]epoch|"
                           r"dims?|files|folds|trials|train utterances|.*\bcount)$", re.I)


def plain(value: Any, nested: bool = False) -> str:
    """A value as a reader reads it, never a Python repr: a mapping as ``key value, ...``
    (``{"text": 384, "audio": 73}`` -> ``text 384, audio 73``), a list as ``a, b`` (``[a, b]`` inside a
    mapping), a float in its shortest form, None as "–" ("none" inside a mapping or list)."""
    if value is None:
        return "none" if nested else "–"
    if isinstance(value, dict):
        text = ", ".join(f"{k} {plain(v, True)}" for k, v in value.items()) or "none"
        return f"({text})" if nested else text
    if isinstance(value, (list, tuple)):
        text = ", ".join(plain(v, True) for v in value) or "none"
        return f"[{text}]" if nested else text
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def reader_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as a reader's table: a meaningful index becomes columns (a default 0, 1, 2 index is
    dropped), count columns (:data:`COUNT_COLUMNS`) with whole values become integers, mappings and
    lists in cells become :func:`plain` text and line breaks in text cells become " / "."""
    out = df.copy()
    if not (isinstance(out.index, pd.RangeIndex) and out.index.name is None and out.index.start == 0
            and out.index.step == 1):
        names = [n if n is not None else "" for n in out.index.names]
        out.index = out.index.set_names(names if len(names) > 1 else names[0])
        out = out.reset_index()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = [" ".join(str(p) for p in c if str(p)).strip() for c in out.columns]
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            out[col] = series.map(lambda v: plain(v) if isinstance(v, (dict, list, tuple)) else
                                  v.replace("\n", " / ") if isinstance(v, str) else v)
        elif (pd.api.types.is_float_dtype(series) and COUNT_COLUMNS.match(str(col))
              and series.dropna().apply(float.is_integer).all()):
            out[col] = series.map(lambda v: "–" if v != v else int(v)).astype(object)
    return out


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (index dropped; missing values as "–", floats to 2
    decimals, "|" escaped)."""
    if df is None or df.empty:
        return "*none*"
    df = reader_frame(df)  # no index column, integer counts, no reprs in cells

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return "–"
        text = f"{v:.2f}" if isinstance(v, float) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(map(str, df.columns)) + " |\n|" + "---|" * len(df.columns)
    return head + "".join("\n| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False))
