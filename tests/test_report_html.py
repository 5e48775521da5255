"""The report page (erc_lib.report.html): cleaned cells, the parameters each section ran with, the
reading order (the references of every citation key: tests/test_published.py)."""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from erc_lib.notebook import RUN_MIME
from erc_lib.report import html as report_html
from erc_lib.report.config import Run
from erc_lib.report.html import header_parameters, ran_with, reading_order
from report_sandbox import NOTEBOOKS, full_size_folders  # noqa: F401 (fixtures)


def test_clean_cells_drops_errors_stderr_widgets_and_figure_reprs():
    outputs = [nbformat.v4.new_output("stream", name="stdout", text="kept"),
               nbformat.v4.new_output("stream", name="stderr", text="100%|####| 3/3"),
               nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["tb"]),
               nbformat.v4.new_output("display_data", data={"text/plain": "HBox()", report_html._WIDGET: {}}),
               nbformat.v4.new_output("execute_result", data={"text/plain": "<Figure size 640x480 with 1 Axes>"},
                                      execution_count=1),
               nbformat.v4.new_output("execute_result", data={"text/plain": "<Figure size 1>", "image/png": "iVBO"},
                                      execution_count=2)]
    cells = report_html._clean_cells([new_code_cell("x", outputs=outputs)])
    assert [o.get("text") or o.get("data", {}).get("image/png") for o in cells[0].outputs] == ["kept", "iVBO"]


def test_header_shows_the_parameters_that_ran():
    """The header reads the executed notebook: the values start() used (smoke sizes included),
    not the config's, and papermill's injected names."""
    nb = new_notebook(cells=[new_code_cell("max_new_tokens = 64\nseeds = 5\nsmoke = False", metadata={"tags": ["parameters"]}),
                             new_code_cell("smoke = True", metadata={"tags": ["injected-parameters"]}),
                             new_code_cell("nb = start()", outputs=[nbformat.v4.new_output(
                                 "display_data", data={"text/plain": "p", RUN_MIME: {"parameters": {
                                     "max_new_tokens": 12, "seeds": 1, "smoke": True}}})])],
                      metadata={"papermill": {"parameters": {"smoke": True}}})
    assert ran_with(nb) == ({"max_new_tokens": 12, "seeds": 1, "smoke": True}, {"smoke": True})
    assert header_parameters(nb) == "smoke=True; smoke sizes: max_new_tokens=12, seeds=1"
    nb.cells[2].outputs = []  # failed before start(): what papermill injected
    assert header_parameters(nb) == "smoke=True"
    assert "parameters of this run" not in str(report_html._clean_cells(
        [new_code_cell("x", outputs=[nbformat.v4.new_output("display_data", data={"text/plain": "parameters of this run",
                                                                                  RUN_MIME: {}})])]))


def test_reading_order_puts_the_front_page_first_then_by_number():
    runs = [Run(n, {}, n) for n in ("05_emonet", "02_features", "99_report", "01_data", "03_sdt")]
    assert [r.name for r in reading_order(runs)] == ["99_report", "01_data", "02_features", "03_sdt", "05_emonet"]




def test_a_column_of_means_over_seeds_may_hold_whole_means_but_a_count_column_may_not():
    """The mean best epoch over seeds is 10.2 for one model and 9.0 for another (one seed, or seeds
    that agree): a column of means, whose 9.0 is a mean written to one decimal. A column whose every
    value is whole (5.0, 3.0) holds counts written as floats: both 5.0 and 3.0 are named, in HTML
    and in Markdown."""
    from erc_lib.report.html import reader_problems

    def page(values):
        body = "".join(f"<tr><td>m{i}</td><td>{v}</td></tr>" for i, v in enumerate(values))
        return f"<table><thead><tr><th>variant</th><th>best epoch</th></tr></thead><tbody>{body}</tbody></table>"

    assert reader_problems(page(["10.2", "9.0", "1.0"])) == {}
    assert reader_problems(page(["5.0", "3.0"])) == {"float count": ["best epoch: 5.0", "best epoch: 3.0"]}
    assert reader_problems(page(["5", "3"])) == {}
    assert reader_problems("| variant | fits |\n|---|---|\n| a | 50.0 |\n| b | 60.0 |") == {
        "float count": ["fits: 50.0", "fits: 60.0"]}
    assert reader_problems("| variant | fits |\n|---|---|\n| a | 50.5 |\n| b | 60.0 |") == {}
