"""Indexes put together from per-document shards, on bundled articles and the bundled MiniLM:
adding a document embeds only its nodes and the new index answers about it; removing one
removes its nodes; a re-run embeds nothing. Embedding on Ray Data's actors, on the cluster:
`test_chain_services`."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.lib.models.bundled import bundled_model_path
from dream_assets.lib.models.embeddings import EmbeddingSettings
from dream_assets.lib.retrieval.index_spec import IndexSpec, load_retriever
from dream_assets.lib.retrieval.indexes import ensure_index
from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
from dream_assets.lib.retrieval.shards import SHARD_SCHEMA, read_shard, shard_key, shard_version
from dream_assets.lib.stores import lance_index
from dream_assets.lib.stores.lance_index import LanceIndex, write_index
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
    # the node-local copy damaged (its largest file cut in half): checked against the object
    # store's listing when opened again, downloaded again, and it answers as before
    copy = tmp_path / "scratch" / "indexes" / grown["prefix"]
    largest = max((path for path in copy.rglob("*") if path.is_file()), key=lambda path: path.stat().st_size)
    size = largest.stat().st_size
    largest.write_bytes(largest.read_bytes()[: size // 2])
    [again_top, *_] = load_retriever(spec, 4).retrieve("What did Donald Davies call the units of data he switched?")
    assert again_top.node_id == top.node_id and largest.stat().st_size == size

    shrunk = ensure_index(store, [corpus["normans"], corpus["packets"]], "window2_minilm-l6", METHOD, embedding)
    assert shrunk["built"] and shrunk["embedded"] == 0 and shrunk["shards_built"] == 0
    counts = _node_documents(store, shrunk)
    assert set(counts) == {"normans", "packets"} and counts["packets"] == added.num_rows
    manifest = json.loads(Path(store.path(f"{shrunk['prefix']}/manifest.json")).read_text())
    assert set(manifest["shards"]) == {"normans", "packets"} and manifest["ann"] is None


def test_above_the_threshold_an_ann_index_is_built_its_recall_measured_and_searched(tmp_path, monkeypatch):
    """The ANN path on a real LanceDB table (threshold lowered: 3,000 random 16-d vectors)."""
    vectors = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
    rows = [f"n{i}" for i in range(len(vectors))]
    shard = pa.table(
        {"node_id": rows, "document_id": ["d"] * len(rows), "embedded": [True] * len(rows),
         "node": ["{}"] * len(rows), "vector": list(vectors)},
        schema=SHARD_SCHEMA,
    )  # fmt: skip
    monkeypatch.setattr(lance_index, "ANN_MIN_VECTORS", 1000)
    record = write_index(tmp_path / "lancedb", [shard])
    ann = record["ann"]
    assert (ann["index_type"], ann["num_partitions"], ann["nprobes"]) == ("IVF_HNSW_SQ", 54, 40)
    assert 0.8 <= ann["recall_at_10"] <= 1.0
    [hits] = LanceIndex(tmp_path / "lancedb", record).search(vectors[7:8], 5)
    assert len(hits) == 5 and hits[0][0] == 7 and hits[0][1] > 0.99  # a stored vector finds itself first


def test_a_grown_golden_set_embeds_only_its_new_questions(tmp_path, embedding):
    import pandas as pd

    from dream_assets import layout
    from dream_assets.lib.retrieval.query_embeddings import ensure_query_embeddings, read_query_embeddings

    settings = ObjectStoreSettings(root=str(tmp_path / "store"))
    store = ObjectStoreClient(settings)
    old = pd.DataFrame({"question_id": ["q1", "q2"], "user_input": ["Who was Rollo?", "When was Normandy named?"]})
    grown = pd.concat([old, pd.DataFrame({"question_id": ["q3"], "user_input": ["What is a force?"]})])
    for version, questions in (("v1", old), ("v2", grown)):
        store.write_parquet(f"{layout.golden_prefix(version)}/questions.parquet", questions)
    assert ensure_query_embeddings(settings, "v1", embedding) == 2
    assert ensure_query_embeddings(settings, "v2", embedding) == 1  # q1 and q2 from the text cache
    assert ensure_query_embeddings(settings, "v2", embedding) == 0  # stored
    first = read_query_embeddings(store, "v1", embedding.name)
    second = read_query_embeddings(store, "v2", embedding.name)
    assert first and second and set(second) == {"q1", "q2", "q3"}
    assert np.allclose(first["q1"], second["q1"]) and not np.allclose(second["q1"], second["q3"])
