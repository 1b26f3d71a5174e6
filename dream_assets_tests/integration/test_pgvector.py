"""PgVectorStore against a real PostgreSQL 18 + pgvector server on 127.0.0.1 (session fixture),
on real embeddings of real text (SQuAD paragraphs and PDFs, bundled all-MiniLM-L6-v2): the bulk
methods, and the RAG chain's indexes through LlamaIndex's PGVectorStore."""

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql

from dream_assets.hashing import slugify
from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets.lib.retrieval.indexes import build_index
from dream_assets.lib.retrieval.methods.auto_merging import AutoMergingMethod
from dream_assets.lib.retrieval.methods.chunks import ChunksMethod
from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
from dream_assets.lib.retrieval.nodes import embedding_dimensions
from dream_assets.lib.retrieval.retriever import Retriever
from dream_assets.lib.stores.vector_stores import llama_vector_store, table_name
from resources.embeddings import EmbeddingProvider
from resources.vector_stores import PgVectorStore

pytestmark = pytest.mark.integration

SQUAD = Path(__file__).resolve().parents[2] / "data" / "demo" / "squad" / "dev-v2.0.json"
PDFS = [SQUAD.parent / "pdfs" / name for name in ("Normans.pdf", "1973_oil_crisis.pdf")]


@pytest.fixture(scope="module")
def paragraphs(tmp_path_factory):
    squad = json.loads(SQUAD.read_text())
    rows = [(f"{a['title']}:p{i:03d}", p["context"]) for a in squad["data"][:3] for i, p in enumerate(a["paragraphs"])]
    model = make_embedding(
        EmbeddingProvider(models_dir=str(tmp_path_factory.mktemp("m"))).settings_for("all-MiniLM-L6-v2")
    )
    vectors = np.array(model.get_text_embedding_batch([text for _, text in rows]), dtype=np.float32)
    return [i for i, _ in rows], [t for _, t in rows], vectors, model


def test_upsert_is_idempotent_and_queries_match_exact_search(postgres_dsn, paragraphs):
    ids, texts, vectors, model = paragraphs
    store = PgVectorStore(dsn=postgres_dsn)
    assert store.upsert("paragraphs", ids, texts, vectors) == len(ids)
    assert store.upsert("paragraphs", ids, [t.upper() for t in texts], vectors) == len(ids)  # re-run
    assert store.count("paragraphs") == len(ids)
    with store.connect() as connection:
        assert (
            connection.execute("SELECT text FROM paragraphs WHERE id = %s", (ids[0],)).fetchone()[0] == texts[0].upper()
        )
    store.build_index("paragraphs", "hnsw", "cosine")
    # a stored vector finds itself first, at distance 0
    [(nearest, distance), *_] = store.query("paragraphs", vectors[5], k=3)
    assert nearest == ids[5] and distance == pytest.approx(0, abs=1e-5)
    # a real question: HNSW agrees with exact search on the top 10
    question = model.get_query_embedding("Who was the duke in the battle of Hastings?")
    approximate = store.query("paragraphs", question, k=10, ef_search=100)
    exact = store.query("paragraphs", question, k=10, exact=True)
    assert len({i for i, _ in approximate} & {i for i, _ in exact}) >= 9
    assert approximate[0][0].startswith("Normans")


def test_table_names_are_quoted_not_executed(postgres_dsn, paragraphs):
    ids, texts, vectors, _ = paragraphs
    store = PgVectorStore(dsn=postgres_dsn)
    store.upsert("victim", ids[:2], texts[:2], vectors[:2])
    hostile = 'chunks"; DROP TABLE victim; --'
    store.upsert(hostile, ids[:3], texts[:3], vectors[:3])
    assert store.count(hostile) == 3 and store.count("victim") == 2
    store.build_index(hostile, "ivfflat", "l2")
    assert store.query(hostile, vectors[1], k=1, metric="l2", probes=1)[0][0] == ids[1]


def test_bad_input_is_refused_before_touching_the_database(postgres_dsn):
    store = PgVectorStore(dsn=postgres_dsn)
    with pytest.raises(ValueError, match="differ in length"):
        store.upsert("t", ["a"], ["x", "y"], np.zeros((1, 3)))
    with pytest.raises(ValueError, match="unique"):
        store.upsert("t", ["a", "a"], ["x", "y"], np.zeros((2, 3)))
    with pytest.raises(psycopg.errors.UndefinedTable):
        store.count("t")


@pytest.mark.parametrize(
    "method",
    [
        ChunksMethod(chunk_size=256, chunk_overlap=32),
        SentenceWindowMethod(window_size=2),
        AutoMergingMethod(chunk_sizes=(512, 128)),
    ],
    ids=lambda m: m.slug,
)
def test_chain_index_in_pgvector_retrieves_what_the_in_memory_index_does(tmp_path, postgres_dsn, paragraphs, method):
    model = paragraphs[3]
    documents = [parse_pdf(slugify(path.stem), path.read_bytes()) for path in PDFS]
    settings = PgVectorStore(dsn=postgres_dsn).settings()
    table = table_name(method.slug, "v1")
    stored, embedded = build_index(
        documents, method, model, tmp_path / "pg", llama_vector_store(settings, table, embedding_dimensions(model))
    )
    assert build_index(documents, method, model, tmp_path / "memory") == (stored, embedded)
    assert not (tmp_path / "pg" / "lancedb" / "vectors.lance").exists()  # the vectors are in PostgreSQL
    with psycopg.connect(postgres_dsn) as connection:
        rows = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"data_{table}"))).fetchone()
    assert rows[0] == embedded
    in_pg = Retriever(
        tmp_path / "pg", method, model, 4, llama_vector_store(settings, table, embedding_dimensions(model))
    )
    in_memory = Retriever(tmp_path / "memory", method, model, 4)
    for question in ("Who was the duke in the battle of Hastings?", "What caused the 1973 oil crisis?"):
        spans = [[(c.document_id, c.start, c.end) for c in r.retrieve(question)] for r in (in_pg, in_memory)]
        assert spans[0] and spans[0] == spans[1]
