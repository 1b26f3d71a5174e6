import pydantic
import pytest

from dream_assets.rag_config import (
    AutoMergingMethod,
    ChunksMethod,
    RagConfig,
    SearchSpace,
    SentenceWindowMethod,
    load_search_space,
    slug_of,
)


def test_slugs_are_readable_partition_keys():
    config = RagConfig(
        retrieval=ChunksMethod(chunk_size=256, chunk_overlap=32),
        embedding_model="all-MiniLM-L6-v2",
        llm="gemma-3-270m",
        top_k=4,
    )
    assert config.index_key == "chunks256o32_minilm-l6"
    assert config.key == "chunks256o32_minilm-l6_gemma-3-270m_k4"
    assert not set(config.key) & set("|[],")
    assert slug_of("sentence-transformers/all-mpnet-base-v2") == "mpnet-base"
    assert AutoMergingMethod(chunk_sizes=(512, 128)).slug == "automerge512-128"
    assert SentenceWindowMethod(window_size=2).slug == "window2"


def test_params_are_flat_and_hold_no_path():
    config = RagConfig(retrieval=AutoMergingMethod(chunk_sizes=(512, 128)), embedding_model="m", llm="l", top_k=2)
    assert config.params() == {
        "retrieval.method": "auto_merging",
        "retrieval.chunk_sizes": "512-128",
        "embedding_model": "m",
        "llm": "l",
        "top_k": 2,
        "retriever": "vector",
        "reranker": "none",
    }


def test_a_reranker_dimension_doubles_the_grid_and_marks_only_reranked_keys():
    space = SearchSpace.model_validate(
        {
            "retrieval": [{"method": "chunks"}],
            "embedding_models": ["m"],
            "llms": ["l"],
            "top_k": [2],
            "rerankers": ["none", "finetuned"],
        }  # fmt: skip
    )
    assert [c.key for c in space.configs()] == ["chunks512o64_m_l_k2", "chunks512o64_m_l_k2_rr-finetuned"]
    with pytest.raises(pydantic.ValidationError, match="rerankers"):
        SearchSpace.model_validate({**space.model_dump(), "rerankers": ["colbert"]})


def test_bm25_and_hybrid_retrievers_share_the_index_and_mark_their_keys():
    space = SearchSpace.model_validate(
        {
            "retrieval": [{"method": "chunks"}],
            "embedding_models": ["m"],
            "llms": ["l"],
            "top_k": [2],
            "retrievers": ["vector", "bm25", "hybrid"],
        }  # fmt: skip
    )
    configs = space.configs()
    assert [c.key for c in configs] == ["chunks512o64_m_l_k2", "chunks512o64_m_l_k2_bm25", "chunks512o64_m_l_k2_hybrid"]
    assert {c.index_key for c in configs} == {"chunks512o64_m"}
    with pytest.raises(pydantic.ValidationError, match="retrievers"):
        SearchSpace.model_validate({**space.model_dump(), "retrievers": ["splade"]})


def test_default_search_space_is_a_full_grid_sharing_indexes():
    configs = load_search_space().configs()
    assert len(configs) == 12
    assert len({c.key for c in configs}) == 12
    assert len({c.index_key for c in configs}) == 6


def test_bad_search_space_names_the_field():
    with pytest.raises(pydantic.ValidationError, match="top_k"):
        SearchSpace.model_validate(
            {"retrieval": [{"method": "chunks"}], "embedding_models": ["m"], "llms": ["l"], "top_k": [0]}
        ).configs()
    with pytest.raises(pydantic.ValidationError, match="method"):
        SearchSpace.model_validate(
            {"retrieval": [{"method": "bm42"}], "embedding_models": ["m"], "llms": ["l"], "top_k": [1]}
        )


def test_duplicate_configurations_are_refused():
    space = SearchSpace.model_validate(
        {
            "retrieval": [{"method": "chunks"}, {"method": "chunks"}],
            "embedding_models": ["m"],
            "llms": ["l"],
            "top_k": [1],
        }
    )
    with pytest.raises(ValueError, match="duplicate"):
        space.configs()
