import pydantic
import pytest
import yaml

from dream_assets.lib.models.bundled import model_problems
from dream_assets.lib.retrieval.methods.auto_merging import AutoMergingMethod
from dream_assets.lib.retrieval.methods.chunks import ChunksMethod
from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
from dream_assets.rag_config import RagConfig, slug_of
from dream_assets.search_space import SearchSpace, SearchSpaceError, load_search_space


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
        "parser": "pypdf",
    }


def _one_point_space(**dimension) -> SearchSpace:
    """A search space of one chunker, model, LLM and top-k, plus `dimension`."""
    return SearchSpace.model_validate(
        {"retrieval": [{"method": "chunks"}], "embedding_models": ["m"], "llms": ["l"], "top_k": [2], **dimension}
    )


def test_a_reranker_dimension_doubles_the_grid_and_marks_only_reranked_keys():
    space = _one_point_space(rerankers=["none", "finetuned"])
    assert [c.key for c in space.configs()] == ["chunks512o64_m_l_k2", "chunks512o64_m_l_k2_rr-finetuned"]
    with pytest.raises(pydantic.ValidationError, match="rerankers"):
        SearchSpace.model_validate({**space.model_dump(), "rerankers": ["colbert"]})


def test_bm25_and_hybrid_retrievers_share_the_index_and_mark_their_keys():
    space = _one_point_space(retrievers=["vector", "bm25", "hybrid"])
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


GOOD = {"retrieval": [{"method": "chunks"}], "embedding_models": ["m"], "llms": ["l"], "top_k": [1]}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"top_k": [4, 0]}, "top_k.1", "greater than 0 (got 0)"),
        ({"top_k": [-2]}, "top_k.0", "greater than 0 (got -2)"),
        ({"top_k": []}, "top_k", "at least 1 item"),
        ({"retrieval": [{"method": "bm42"}]}, "retrieval.0", "'chunks', 'sentence_window', 'auto_merging'"),
        (
            {"retrieval": [{"method": "chunks", "chunk_size": 256, "chunk_overlap": 256}]},
            "retrieval.0.chunks",
            "chunk_overlap 256 must be below chunk_size 256",
        ),
        ({"retrieval": [{"method": "chunks", "chunk_sise": 256}]}, "retrieval.0.chunks.chunk_sise", "Extra inputs"),
        ({"retrievers": ["vector", "dense"]}, "retrievers.1", "'vector', 'bm25' or 'hybrid' (got 'dense')"),
        ({"top-k": [1]}, "top-k", "Extra inputs are not permitted"),
        (
            {"retrieval": [{"method": "auto_merging", "chunk_sizes": [128, 512]}]},
            "retrieval.0.auto_merging",
            "largest first",
        ),
    ],
)
def test_bad_search_space_names_the_file_field_value_and_what_is_allowed(tmp_path, change, field, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**GOOD, **change}))
    with pytest.raises(SearchSpaceError) as error:
        load_search_space(path)
    assert str(error.value).startswith(f"search space {path}: ")
    assert f"{field}: " in str(error.value) and message in str(error.value)


def test_models_that_cannot_load_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty Hugging Face cache
    problems = model_problems(["all-MiniLM-L6-v2", "BAAI/bge-nonexistent", str(tmp_path)], ["gemma-3-270m", "gpt-9"])
    assert len(problems) == 2
    assert "'BAAI/bge-nonexistent' is not bundled (all-MiniLM-L6-v2, all-mpnet-base-v2)" in problems[0]
    assert "'gpt-9' is not bundled" in problems[1] and "no OpenAI-compatible endpoint" in problems[1]
    assert model_problems([], ["gpt-9"], llm_api_base="http://127.0.0.1:8000/v1") == []


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


def test_optuna_draws_stay_in_the_ranges_and_only_draw_the_methods_parameters():
    import optuna

    from dream_assets.search_space import IntRange, RangeSpace

    space = RangeSpace(
        methods=["chunks", "sentence_window"],
        chunk_size=IntRange(low=128, high=256, step=64),
        chunk_overlap=IntRange(low=0, high=200, step=16),
        window_size=[1, 3],
        embedding_models=["m"],
        llms=["l"],
        top_k=IntRange(low=1, high=4),
        retrievers=["vector", "bm25"],
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    methods = set()
    for _ in range(30):
        trial = study.ask()
        space.suggest(trial)
        config = RangeSpace.config_from(trial.params)
        methods.add(config.retrieval.method)
        assert 1 <= config.top_k <= 4 and config.retriever in ("vector", "bm25")
        if config.retrieval.method == "chunks":
            assert config.retrieval.chunk_size in (128, 192, 256)
            assert config.retrieval.chunk_overlap <= config.retrieval.chunk_size // 2
            assert "window_size" not in trial.params
        else:
            assert config.retrieval.window_size in (1, 3) and "chunk_size" not in trial.params
        study.tell(trial, 0.0)
    assert methods == {"chunks", "sentence_window"}
    with pytest.raises(pydantic.ValidationError, match="above high"):
        IntRange(low=5, high=1)
    assert load_search_space().ranges.samples == 16  # the shipped file has a ranges section


def test_an_embedding_backend_is_part_of_the_model_name():
    from dream_assets.lib.models.bundled import model_unavailable, split_backend
    from dream_assets.rag_config import slug_of

    assert split_backend("all-MiniLM-L6-v2@onnx-int8") == ("all-MiniLM-L6-v2", "onnx-int8")
    assert split_backend("all-MiniLM-L6-v2") == ("all-MiniLM-L6-v2", "torch")
    assert slug_of("all-MiniLM-L6-v2@onnx-int8") == "minilm-l6-onnx-int8"
    assert model_unavailable("all-mpnet-base-v2@onnx", "embedding") == ""
    assert "backend 'int4' is not one of torch, onnx, onnx-int8" in model_unavailable(
        "all-MiniLM-L6-v2@int4", "embedding"
    )
    assert "needs a bundled model or a local directory" in model_unavailable("my-org/embedder@onnx", "embedding")


def test_the_default_search_space_is_the_full_evidence_one_with_int8_embeddings():
    """The shipped default differs from `search_space.full.yaml` (the tests' grid and the
    full-evidence run) only in running each embedding model quantized to int8."""
    import yaml

    from dream_assets.search_space import DEFAULT_SEARCH_SPACE, FULL_EVIDENCE_SEARCH_SPACE

    default = yaml.safe_load(DEFAULT_SEARCH_SPACE.read_text())
    full = yaml.safe_load(FULL_EVIDENCE_SEARCH_SPACE.read_text())
    assert default.pop("embedding_models") == [f"{name}@onnx-int8" for name in full.pop("embedding_models")]
    assert default == full
    assert len(load_search_space(DEFAULT_SEARCH_SPACE).configs()) == len(load_search_space().configs()) == 12
