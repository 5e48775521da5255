"""Prose numbers match the measured tables: every difference with its interval quoted in the README and
docs/findings.md ("+0.77 [−1.43, +2.97]") is one that results/reference/ stores (a claim's comparison, a
notebook's comparison, at two decimals; B − A quoted as the mirror of A − B counts). A line that quotes
an earlier run, kept for the history, says so with an ``<!-- earlier run -->`` comment."""
from __future__ import annotations

import json
import re

from erc_lib.paths import REPO_ROOT

QUOTED = re.compile(r"([+\-−]\d+\.\d\d) \[([+\-−]\d+\.\d\d), ([+\-−]\d+\.\d\d)\]")
DOCS = ("README.md", "docs/findings.md")


def _number(text: str) -> float:
    return round(float(text.replace("−", "-")), 2)


def stored_comparisons() -> set[tuple[float, float, float]]:
    """Every (difference, ci_low, ci_high) anywhere in results/reference/*.json, at two decimals."""
    found: set = set()

    def walk(node):
        if isinstance(node, dict):
            if {"difference", "ci_low", "ci_high"} <= set(node):
                found.add(tuple(round(node[k], 2) for k in ("difference", "ci_low", "ci_high")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((REPO_ROOT / "results" / "reference").glob("*.json")):
        walk(json.loads(path.read_text()))
    return found


def unmatched(text: str, stored: set) -> list[str]:
    out = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if "<!-- earlier run -->" in line:
            continue
        for m in QUOTED.finditer(line):
            d, low, high = (_number(g) for g in m.groups())
            if (d, low, high) not in stored and (-d, -high, -low) not in stored:
                out.append(f"line {line_no}: {m.group(0)}")
    return out


def test_the_checker_finds_a_number_that_is_not_stored():
    stored = {(0.77, -1.43, 2.97)}
    assert unmatched("SDT +0.77 [−1.43, +2.97] and B − A −0.77 [−2.97, +1.43]", stored) == []
    assert unmatched("SDT +0.78 [−1.43, +2.97]", stored) == ["line 1: +0.78 [−1.43, +2.97]"]
    assert unmatched("SDT +0.78 [−1.43, +2.97] <!-- earlier run -->", stored) == []


def test_every_quoted_difference_in_the_prose_is_a_stored_one():
    stored = stored_comparisons()
    problems = {doc: unmatched((REPO_ROOT / doc).read_text(encoding="utf-8"), stored) for doc in DOCS}
    assert not any(problems.values()), f"numbers quoted that results/reference does not hold: {problems}"
