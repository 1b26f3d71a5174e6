from pathlib import Path

import pandas as pd
import pytest

from dream_assets.hashing import slugify
from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.lib.retrieval.context_matching import covered_context_ids
from dream_assets.lib.retrieval.methods.auto_merging import AutoMergingMethod
from dream_assets.lib.retrieval.methods.chunks import ChunksMethod
from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
from dream_assets.lib.retrieval.nodes import build_nodes
from dream_assets.lib.retrieval.retriever import RetrievedContext

PDF = Path(__file__).resolve().parents[2] / "data" / "demo" / "squad" / "pdfs" / "Normans.pdf"

CONTEXTS = pd.DataFrame(
    [
        {"context_id": "d:p0", "document_id": "d", "start": 0, "end": 100},
        {"context_id": "d:p1", "document_id": "d", "start": 100, "end": 300},
        {"context_id": "e:p0", "document_id": "e", "start": 0, "end": 100},
    ]
)


def _retrieved(start, end, document="d"):
    return RetrievedContext("n", document, start, end, "", 0.0)


def test_a_chunk_covers_paragraphs_it_mostly_holds():
    assert covered_context_ids(_retrieved(0, 300), CONTEXTS) == ["d:p1", "d:p0"]
    assert covered_context_ids(_retrieved(90, 300), CONTEXTS) == ["d:p1"]  # clips 10 chars of p0


def test_a_sentence_inside_a_paragraph_covers_it_and_documents_do_not_mix():
    assert covered_context_ids(_retrieved(120, 160), CONTEXTS) == ["d:p1"]
    assert covered_context_ids(_retrieved(20, 60, "e"), CONTEXTS) == ["e:p0"]
    assert covered_context_ids(_retrieved(20, 60, "f"), CONTEXTS) == []


def test_a_chunk_covering_nothing_in_its_document_covers_nothing():
    # clips the end of p0 and the start of p1 (text between them is not a reference context):
    # no paragraph is mostly inside it and it is mostly outside both (regression:
    # an empty selection once came back as one NaN id per paragraph of the document)
    gapped = pd.DataFrame(
        [
            {"context_id": "g:p0", "document_id": "g", "start": 0, "end": 100},
            {"context_id": "g:p1", "document_id": "g", "start": 200, "end": 300},
        ]
    )
    assert covered_context_ids(_retrieved(90, 210, "g"), gapped) == []


@pytest.mark.parametrize(
    "method",
    [
        ChunksMethod(chunk_size=128, chunk_overlap=16),
        SentenceWindowMethod(window_size=1),
        AutoMergingMethod(chunk_sizes=(256, 64)),
    ],
    ids=lambda m: m.slug,
)
def test_node_spans_point_at_their_text_in_the_document(method):
    document = parse_pdf(slugify(PDF.stem), PDF.read_bytes())
    nodes, embedded = build_nodes([document], method)
    assert embedded and len(embedded) <= len(nodes)
    for node in nodes:
        start, end = node.metadata["span_start"], node.metadata["span_end"]
        if isinstance(method, SentenceWindowMethod):
            assert document.text[start:end].startswith(node.metadata["window"][:20].strip())
        else:
            assert document.text[start:end] == node.get_content()
