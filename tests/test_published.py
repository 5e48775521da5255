"""Published numbers and references (erc_lib/published.py): every row cites a reference, every counterpart and
per-class row names a published row, a paper has one display name, and citation keys are found and written as it."""
from __future__ import annotations

import re

import nbformat

from erc_lib.claims import CLAIMS
from erc_lib.published import (COUNTERPARTS, PUBLISHED, PUBLISHED_PER_CLASS, REFERENCES, cited, citation_keys,
                               display_name, published_table, references_markdown)
from erc_lib.paths import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"


def test_every_published_row_cites_a_reference_and_counterparts_name_published_rows():
    sources = {row[0] for row in PUBLISHED}
    assert sources <= set(REFERENCES)
    rows = {(row[0], row[2], row[3]) for row in PUBLISHED}                    # (source, dataset, variant)
    assert set(COUNTERPARTS) <= rows, set(COUNTERPARTS) - rows
    assert set(PUBLISHED_PER_CLASS) <= rows
    for row in PUBLISHED:                                                       # percent, or not reported
        assert all(v is None or 0 < v <= 100 for v in row[4:6]), row


def test_published_table_filters_and_labels_every_row_published():
    everything = published_table()
    assert len(everything) == len(PUBLISHED) and set(everything["kind"]) == {"published"}
    assert everything["paper"].tolist() == [display_name(row[0]) for row in PUBLISHED]
    emonet = published_table(source="EMONET", dataset="emorynlp")
    assert len(emonet) == sum(row[0] == "EMONET" and row[2] == "emorynlp" for row in PUBLISHED) > 0
    assert set(emonet["paper"]) == {"EmoNet"} and list(emonet.index) == list(range(len(emonet)))
    assert published_table(model="no such model").empty


def test_a_paper_or_model_has_one_display_name():
    assert display_name("EMONET") == display_name("EmoNet") == display_name("emonet") == "EmoNet"
    assert display_name("mister_e") == display_name("Mister-E ") == "MiSTER-E"
    assert display_name("SEED000") == display_name("SDT + bios (seed 000)") == "Berni et al."
    assert display_name(None) == display_name(float("nan")) == "–"
    assert display_name("something else") == "something else"


def test_cited_writes_keys_as_display_names_and_leaves_other_text():
    assert cited("as quoted in SEED000 and [EMONET Table 2]") == "as quoted in Berni et al. and [EmoNet Table 2]"
    assert cited("the seed report's numbers; seed paper 000") == "Berni et al.'s numbers; Berni et al."
    assert cited("[CLS] token, SDTX and xSDT") == "[CLS] token, SDTX and xSDT"   # no key, no partial words


def test_references_markdown_lists_the_asked_keys_in_order():
    r = REFERENCES["COMPM"]
    assert references_markdown(["COMPM"]) == f"- **CoMPM**: {r['authors']}. *{r['title']}*. {r['venue']}, {r['year']}."
    assert references_markdown(["MISTERE", "SDT"]).splitlines()[1].startswith("- **SDT**: ")
    assert len(references_markdown().splitlines()) == len(REFERENCES)


def test_every_citation_key_in_the_notebooks_and_claims_has_a_reference():
    """A bracketed key that looks like a citation ([SEED000], [EMONET thesis ...]) in a notebook or in the
    claims is defined in erc_lib.published.REFERENCES; "seed paper NNN" is written as its key."""
    texts = [c.source for p in sorted(NOTEBOOKS.glob("*.ipynb")) for c in nbformat.read(p, as_version=4).cells]
    texts += [str(getattr(c, "published", "")) for c in CLAIMS]
    keys = {m for t in texts for m in re.findall(r"\[([A-Z][A-Z0-9]{2,})[\] ]", t)} - {"CLS"}
    assert keys and keys <= set(REFERENCES), keys - set(REFERENCES)
    assert not [t for t in texts if re.search(r"\bseed paper \d{3}", t)]
    assert citation_keys("as in [SEED000] Table 7 and seed 003") == ["SEED000", "MISTERE"]
