"""Indexes put together from per-document shards, on bundled articles and the bundled MiniLM:
adding a document embeds only its nodes and the new index answers about it; removing one
removes its nodes; a re-run embeds nothing. Embedding on Ray Data's actors, on the cluster:
`test_chain_services`."""

import json
from pathlib import Path

import pytest

from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.lib.models.bundled import bundled_model_path
from dream_assets.lib.models.embeddings import EmbeddingSettings
from dream_assets.lib.retrieval.index_spec import IndexSpec, load_retriever
from dream_assets.lib.retrieval.indexes import ensure_index
from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
from dream_assets.lib.retrieval.shards import read_shard, shard_key, shard_version
from dream_assets.lib.stores.lance_index import LanceIndex
from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings

pytestmark = pytest.mark.integration

PDFS = Path(__file__).resolve().parents[2] / "data" / "demo" / "squad" / "pdfs"
METHOD = SentenceWindowMethod(window_size=2)


@pytest.fixture(scope="module")
def corpus():
    names = {"normans": "Normans.pdf", "oil": "1973_oil_crisis.pdf", "packets": "Packet_switching.pdf"}
    return {key: parse_pdf(key, (PDFS / name).read_bytes()) for key, name in names.items()}


@pytest.fixture(scope="module")
def embedding(models_dir):
    model = bundled_model_path("all-MiniLM-L6-v2", models_dir)
    return EmbeddingSettings(name="all-MiniLM-L6-v2", model=str(model))


def _node_documents(store, pointer) -> dict[str, int]:
    index = LanceIndex(Path(store.path(pointer["prefix"])) / "lancedb", {})
    data = index.nodes.search().select(["document_id"]).limit(None).to_arrow()
    ids = data.column("document_id").to_pylist()
    return {document: ids.count(document) for document in set(ids)}


def test_adding_a_document_embeds_only_its_nodes_and_removing_one_removes_its_nodes(tmp_path, corpus, embedding):
    store = ObjectStoreClient(ObjectStoreSettings(root=str(tmp_path / "store")))
    first = ensure_index(store, [corpus["normans"], corpus["oil"]], "window2_minilm-l6", METHOD, embedding)
    assert first["built"] and first["shards_built"] == 2 and first["embedded"] == first["nodes"]
    again = ensure_index(store, [corpus["oil"], corpus["normans"]], "window2_minilm-l6", METHOD, embedding)
    assert (again["built"], again["embedded"], again["version"]) == (False, 0, first["version"])  # order-free

    grown = ensure_index(store, list(corpus.values()), "window2_minilm-l6", METHOD, embedding)
    added = read_shard(store, shard_key(shard_version(corpus["packets"], METHOD, embedding)))
    assert grown["built"] and grown["shards_built"] == 1
    assert grown["embedded"] == added.num_rows  # the new document's nodes, and no other
    assert grown["nodes"] == first["nodes"] + added.num_rows
    spec = IndexSpec(
        method=METHOD,
        embedding=embedding,
        object_store=store.settings,
        index_prefix=grown["prefix"],
        scratch_dir=str(tmp_path / "scratch"),
    )
    [top, *_] = load_retriever(spec, 4).retrieve("What did Donald Davies call the units of data he switched?")
    assert top.document_id == "packets"

    shrunk = ensure_index(store, [corpus["normans"], corpus["packets"]], "window2_minilm-l6", METHOD, embedding)
    assert shrunk["built"] and shrunk["embedded"] == 0 and shrunk["shards_built"] == 0
    counts = _node_documents(store, shrunk)
    assert set(counts) == {"normans", "packets"} and counts["packets"] == added.num_rows
    manifest = json.loads(Path(store.path(f"{shrunk['prefix']}/manifest.json")).read_text())
    assert set(manifest["shards"]) == {"normans", "packets"} and manifest["ann"] is None
