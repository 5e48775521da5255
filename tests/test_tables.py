"""Tables for readers (erc_lib/tables.py): no index column, counts as integers, mappings and lists as text, line
breaks as " / ", Markdown tables with missing values as "–"."""
from __future__ import annotations

import pandas as pd

from erc_lib import report
from erc_lib.tables import markdown_table, plain, reader_frame


def test_notebook_tables_render_for_readers():
    """The notebooks' DataFrame formatter (erc_lib.notebook.reader_frame): no 0, 1, 2 index, a named index
    kept as a column, counts as integers, mappings as text, line breaks as " / "."""
    frame = pd.DataFrame({"seeds": [1.0, None], "epochs run": [2.0, 3.0], "weighted F1": [60.0, 61.5], "text": ["a\nb", "c"],
                          "dims": [{"text": 384, "audio": 73}, ["t", "a"]]}, index=pd.Index(["x", "y"], name="run"))
    html = reader_frame(frame).to_html(index=False, na_rep="–")
    assert report.reader_problems(html) == {}
    shown = reader_frame(frame)
    assert list(shown.columns) == ["run", "seeds", "epochs run", "weighted F1", "text", "dims"]
    assert shown["seeds"].tolist() == [1, "–"] and shown["epochs run"].tolist() == [2, 3]
    assert shown["weighted F1"].tolist() == [60.0, 61.5]
    assert shown["text"].tolist() == ["a / b", "c"] and shown["dims"].tolist() == ["text 384, audio 73", "t, a"]
    assert plain({"d_model": 32, "patience": None, "gammas": [1.0, 0.5]}) == "d_model 32, patience none, gammas [1, 0.5]"


def test_markdown_table_by_hand():
    """Index dropped, floats to 2 decimals, whole counts as integers, missing values as "–", "|" escaped;
    an empty table says so."""
    frame = pd.DataFrame({"model": ["SDT | text", "BiGRU"], "seeds": [5.0, 3.0], "weighted F1": [61.234, None]})
    assert markdown_table(frame) == ("| model | seeds | weighted F1 |\n|---|---|---|\n"
                                     "| SDT \\| text | 5 | 61.23 |\n| BiGRU | 3 | – |")
    assert markdown_table(pd.DataFrame()) == markdown_table(None) == "*none*"


def test_plain_writes_values_as_a_reader_reads_them():
    assert plain(None) == "–" and plain([None], nested=False) == "none"
    assert plain({"text": 384, "audio": 73}) == "text 384, audio 73"
    assert plain({"a": {"b": 1}}) == "a (b 1)" and plain([]) == "none" and plain({}) == "none"
    assert plain(0.5) == "0.5" and plain(1e-05) == "1e-05" and plain(3) == "3"
