"""BM25 and hybrid (BM25 + vector, reciprocal rank fusion) retrieval on a real index of a demo
PDF, with the bundled MiniLM embeddings and real SQuAD questions."""

import json

import pytest

from dream_assets.defs.golden.assets import DEMO_SQUAD
from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets.lib.retrieval.indexes import build_index
from dream_assets.lib.retrieval.methods.auto_merging import AutoMergingMethod
from dream_assets.lib.retrieval.methods.chunks import ChunksMethod
from dream_assets.lib.retrieval.retriever import Retriever
from dream_assets_tests.conftest import DEMO_PDFS
from resources.embeddings import EmbeddingProvider

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def normans(tmp_path_factory, models_dir):
    """The Normans article, its SQuAD questions with answers, and the MiniLM model."""
    document = parse_pdf("normans", (DEMO_PDFS / "Normans.pdf").read_bytes())
    squad = json.loads(DEMO_SQUAD.read_text())
    questions = [
        (qa["question"], qa["answers"][0]["text"])
        for article in squad["data"]
        if article["title"] == "Normans"
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
        if qa["answers"]
    ][:30]
    embed_model = make_embedding(EmbeddingProvider(models_dir=str(models_dir)).settings_for("all-MiniLM-L6-v2"))
    return document, questions, embed_model, tmp_path_factory.mktemp("retrievers")


def _index(normans, method, name):
    document, _, embed_model, root = normans
    build_index([document], method, embed_model, root / name)
    return root / name


def test_bm25_and_hybrid_find_answers_and_hybrid_is_the_reciprocal_rank_fusion(normans):
    _, questions, embed_model, _ = normans
    method = ChunksMethod(chunk_size=128, chunk_overlap=16)
    index = _index(normans, method, "chunks")
    modes = ("vector", "bm25", "hybrid")
    retrievers = {mode: Retriever(index, method, embed_model, 3, retriever=mode) for mode in modes}
    found = dict.fromkeys(retrievers, 0)
    differ = 0
    for question, answer in questions:
        results = {mode: retriever.retrieve(question) for mode, retriever in retrievers.items()}
        for mode, contexts in results.items():
            assert len(contexts) == 3
            found[mode] += any(answer.lower() in context.text.lower() for context in contexts)
        ranks = [[c.node_id for c in results[mode]] for mode in ("vector", "bm25")]
        differ += ranks[0] != ranks[1]
        # LlamaIndex's RRF: each list adds 1 / (60 + rank), ranks from 0
        expected = {}
        for ranked in ranks:
            for rank, node_id in enumerate(ranked):
                expected[node_id] = expected.get(node_id, 0.0) + 1 / (60 + rank)
        fused = results["hybrid"]
        assert [c.score for c in fused] == pytest.approx([expected[c.node_id] for c in fused])
        assert sorted(expected.values(), reverse=True)[:3] == pytest.approx([c.score for c in fused])
    assert differ > 0  # lexical and dense retrieval disagree on some questions
    # answers are in the top-3 for most questions, whatever the retriever (30 questions)
    assert min(found.values()) >= 15, found


def test_bm25_ranks_the_exact_rare_term_first_and_works_under_auto_merging(normans):
    _, _, embed_model, _ = normans
    method = AutoMergingMethod(chunk_sizes=(512, 128))
    index = _index(normans, method, "automerge")
    # "barwn" occurs once in the article (the Welsh for baron)
    [first, *_] = Retriever(index, method, embed_model, 2, retriever="bm25").retrieve("barwn")
    assert "barwn" in first.text
    hybrid = Retriever(index, method, embed_model, 2, retriever="hybrid").retrieve("Who was Rollo?")
    assert hybrid and all(0 <= c.start < c.end for c in hybrid)
    with pytest.raises(ValueError, match="retriever must be"):
        Retriever(index, method, embed_model, 2, retriever="splade")


def test_vectorised_exact_search_ranks_as_llamaindex_in_memory_store_and_batches_agree(normans):
    """The exact vector search DREAM runs over an index's LanceDB vectors (`ExactVectorSearch`)
    against LlamaIndex's own `SimpleVectorStore` query on the same nodes and vectors, and one
    batch of questions with precomputed embeddings against one question at a time."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import QueryBundle

    from dream_assets.lib.retrieval.vector_search import embedded_nodes

    _, questions, embed_model, _ = normans
    method = ChunksMethod(chunk_size=128, chunk_overlap=16)
    index = _index(normans, method, "exact")
    retriever = Retriever(index, method, embed_model, 5)
    rows, matrix = retriever.lance.vector_matrix()
    vectors = dict(zip(rows.tolist(), matrix, strict=True))
    nodes = embedded_nodes(retriever.lance)
    for row, node in zip(retriever.lance.embedded_rows(), nodes, strict=True):
        node.embedding = vectors[row].tolist()
    library = VectorStoreIndex(nodes, embed_model=embed_model).as_retriever(similarity_top_k=5)
    texts = [question for question, _ in questions]
    embeddings = embed_model.get_text_embedding_batch(texts)
    batch = retriever.retrieve_batch(texts, 5, embeddings)
    for text, vector, batched in zip(texts, embeddings, batch, strict=True):
        expected = library.retrieve(QueryBundle(text, embedding=vector))
        assert [c.node_id for c in batched] == [n.node.node_id for n in expected]
        assert [c.score for c in batched] == pytest.approx([n.score for n in expected], abs=1e-5)
        assert [c.node_id for c in retriever.retrieve(text)] == [c.node_id for c in batched]
    with pytest.raises(ValueError, match="embeddings for"):
        retriever.retrieve_batch(texts, 5, embeddings[:-1])
    bm25 = Retriever(index, method, embed_model, 5, retriever="bm25")
    with pytest.raises(ValueError, match="needs texts"):
        bm25.retrieve_batch(embeddings[:2], 5)


def test_semantic_chunks_end_where_the_text_turns_and_retrieve_answers(normans):
    """The fourth built-in method, registered and nothing else: LlamaIndex's
    `SemanticSplitterNodeParser` with the index's own embedding model."""
    from dream_assets.lib.retrieval.methods.semantic import SemanticMethod
    from dream_assets.lib.retrieval.nodes import build_nodes
    from dream_assets.rag_config import RagConfig

    document, questions, embed_model, _ = normans
    config = RagConfig.model_validate(
        {
            "retrieval": {"method": "semantic", "breakpoint_percentile_threshold": 90},
            "embedding_model": "m",
            "llm": "l",
            "top_k": 3,
        }  # fmt: skip
    )
    method = config.retrieval
    assert isinstance(method, SemanticMethod) and config.key == "semantic90b1_m_l_k3"
    nodes, embedded = build_nodes([document], method, embed_model)
    assert embedded == nodes and len(nodes) > 5
    for node in nodes:  # every chunk is the document's text at its span
        assert document.text[node.metadata["span_start"] : node.metadata["span_end"]] == node.get_content()
    # boundaries follow the text, not a token budget: chunk lengths vary widely
    lengths = sorted(len(node.get_content()) for node in nodes)
    assert lengths[-1] > 4 * lengths[len(lengths) // 2] or lengths[0] * 4 < lengths[len(lengths) // 2], lengths
    index = _index(normans, method, "semantic")
    retriever = Retriever(index, method, embed_model, 3)
    found = sum(
        any(answer.lower() in context.text.lower() for context in retriever.retrieve(question))
        for question, answer in questions
    )
    assert found >= 15, found
