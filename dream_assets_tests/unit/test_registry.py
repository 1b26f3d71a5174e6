"""The registries of `dream_assets.plugins.registry`: a user's component by import path or entry
point, validated like a built-in, and `lib/` free of Dagster."""

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dream_assets.plugins.metrics import METRICS
from dream_assets.plugins.registry import UnknownComponentError
from dream_assets.plugins.retrievers import RETRIEVERS
from dream_assets.search_space import SearchSpaceError, load_search_space

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
from llama_index.core.node_parser import TokenTextSplitter
from pydantic import Field

from dream_assets.lib.evaluation.metric_catalog import Metric
from dream_assets.plugins.methods import RetrievalMethodBase


class TokenChunks(RetrievalMethodBase):
    """Chunks of exactly `size` tokens (LlamaIndex's TokenTextSplitter), no sentence snapping."""

    size: int = Field(96, gt=8)

    @property
    def slug(self):
        return f"tokens{self.size}"

    def node_parser(self, embed_model=None):
        return TokenTextSplitter(chunk_size=self.size, chunk_overlap=0)


def not_a_method():
    return None


from dream_assets.lib.llm.providers import LlmProviderBase
from dream_assets.lib.stores.vector_stores import VectorStoreBackend


class EchoProvider(LlmProviderBase):
    """An LLM provider of a user's: LlamaIndex's MockLLM."""

    def make_llm(self, settings, stop=None):
        from llama_index.core.llms import MockLLM

        return MockLLM(max_tokens=None)  # echoes the prompt

    def structured_client(self, settings):
        raise NotImplementedError


class SimpleBackend(VectorStoreBackend):
    """A vector store of a user's: LlamaIndex's SimpleVectorStore, kept in memory."""

    def llama_store(self, table, dimensions):
        from llama_index.core.vector_stores import SimpleVectorStore

        return SimpleVectorStore()


def _cited(retrieved, references):
    return sum(bool(set(ids) & set(references)) for ids in retrieved) / len(retrieved)


cited = Metric("cited", "retrieval", "share of retrieved contexts covering a reference", _cited)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A user's module on the path, and the registries restored afterwards."""
    (tmp_path / "my_components.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    from dream_assets.plugins.llm_providers import LLM_PROVIDERS
    from dream_assets.plugins.methods import METHODS
    from dream_assets.plugins.metrics import METRICS
    from dream_assets.plugins.retrievers import RETRIEVERS
    from dream_assets.plugins.vector_stores import VECTOR_STORES

    for registry in (METHODS, METRICS, RETRIEVERS, LLM_PROVIDERS, VECTOR_STORES):
        monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))
    return tmp_path


def _space(tmp_path: Path, **fields) -> Path:
    data = {"retrieval": [{"method": "chunks"}], "embedding_models": ["m"], "llms": ["l"], "top_k": [2], **fields}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_method_named_by_import_path_is_validated_keyed_and_parses(plugin):
    from dream_assets.lib.retrieval.nodes import build_nodes
    from dream_assets.plugins.parsers import ParsedDocument

    space = load_search_space(_space(plugin, retrieval=[{"method": "my_components:TokenChunks", "size": 32}]))
    [config] = space.configs()
    assert config.key == "tokens32_m_l_k2" and config.retrieval.size == 32
    assert config.model_dump(mode="json")["retrieval"] == {"method": "my_components:TokenChunks", "size": 32}
    text = "Normandy is a region of France. " * 40
    nodes, embedded = build_nodes([ParsedDocument(document_id="d", title="d", text=text)], config.retrieval)
    assert embedded == nodes and len(nodes) > 3
    for node in nodes:
        assert text[node.metadata["span_start"] : node.metadata["span_end"]] == node.get_content()
    with pytest.raises(SearchSpaceError, match=r"retrieval\.0\.my_components:TokenChunks\.size: .*greater than 8"):
        load_search_space(_space(plugin, retrieval=[{"method": "my_components:TokenChunks", "size": 2}]))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retrieval": [{"method": "my_components:not_a_method"}]}, "is not a subclass of"),
        ({"retrieval": [{"method": "my_components:Missing"}]}, "has no attribute Missing"),
        ({"retrieval": [{"method": "nowhere.at_all:Chunks"}]}, "cannot import nowhere.at_all"),
        ({"metrics": ["my_components:TokenChunks"]}, "is not a dream_assets.plugins.metrics.Metric"),
        ({"retrievers": ["my_components:cited"]}, "is not a subclass of dream_assets.plugins.retrievers.RetrieverKind"),
    ],
)
def test_a_wrong_plugin_fails_where_it_is_named(plugin, fields, message):
    with pytest.raises(SearchSpaceError, match=message):
        load_search_space(_space(plugin, **fields))


def test_unknown_names_list_the_known_ones_and_the_entry_point_group():
    with pytest.raises(UnknownComponentError) as error:
        RETRIEVERS.get("splade")
    assert "'dream.retrievers'" in str(error.value) and str(error.value).endswith("'vector', 'bm25' or 'hybrid'")


def test_a_metric_plugin_is_scored_summarised_plotted_tested_and_described(plugin):
    from dream_assets.defs.metadata import describe
    from dream_assets.lib.evaluation.leaderboard import add_evidence, build_leaderboard, plot_columns
    from dream_assets.lib.evaluation.metric_catalog import plugin_metric_names, scored_metrics
    from dream_assets.lib.evaluation.summary import summarize

    space = load_search_space(_space(plugin, metrics=["my_components:cited"]))
    assert [m.name for m in scored_metrics("retrieval", space.metrics)][-1] == "cited"
    assert plugin_metric_names(space.metrics) == ["cited"]
    [metric] = [METRICS.get("my_components:cited")]
    assert metric.score([["a"], ["unmatched:n1"]], ["a"]) == 0.5
    tables = {
        key: pd.DataFrame(
            {
                "question_id": [f"q{i}" for i in range(6)],
                "cited": values,
                "mrr": values,
                "generated": False,
                "error": "",
                "retrieval_latency_s": 0.1,
                "generation_latency_s": math.nan,
            }  # fmt: skip
        )
        for key, values in {"a": [1, 1, 1, 1, 0.5, 1], "b": [0, 0, 0.5, 0, 0, 0]}.items()
    }
    rows = [{"config_key": key, "status": "ok", **summarize(table)} for key, table in tables.items()]
    assert rows[0]["cited"] == pytest.approx(5.5 / 6) and rows[0]["cited_n"] == 6
    board = add_evidence(build_leaderboard(rows, "mrr"), tables, "mrr")
    assert {"cited_ci95_low", "cited_p_vs_best"} <= set(board.columns)
    assert "cited" in plot_columns() and describe("cited_ci95_low").startswith("cited: ")


def test_lib_imports_no_dagster():
    """What Ray workers import (`dream_assets.lib`, the plug-in contracts and registries) loads no
    Dagster module, directly or through what it imports: checked in a clean interpreter."""
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in ("dream_assets/lib", "dream_assets/plugins")
        for path in (ROOT / folder).rglob("*.py")
    )
    assert len(modules) > 40
    code = textwrap.dedent(f"""
        import importlib, sys
        for name in {modules + ["dream_assets.rag_config"]!r}:
            importlib.import_module(name)
        from dream_assets.plugins.llm_providers import LLM_PROVIDERS
        from dream_assets.plugins.methods import METHODS
        from dream_assets.plugins.metrics import METRICS
        from dream_assets.plugins.rerankers import RERANKERS
        from dream_assets.plugins.retrievers import RETRIEVERS
        from dream_assets.plugins.vector_stores import VECTOR_STORES
        for registry in (METHODS, METRICS, RETRIEVERS, RERANKERS, VECTOR_STORES, LLM_PROVIDERS):
            registry.all()
        print(sorted(name for name in sys.modules if name.split(".")[0] in ("dagster", "dagster_aws")))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def test_an_llm_provider_and_a_vector_store_of_ones_own_are_chosen_by_configuration(plugin):
    from llama_index.core.llms import MockLLM
    from llama_index.core.vector_stores import SimpleVectorStore

    from dream_assets.lib.llm.settings import make_llm
    from dream_assets.lib.stores.vector_stores import llama_vector_store
    from dream_assets.plugins.vector_stores import VectorStoreSettings
    from resources.llm import LlmProvider
    from resources.vector_stores import VectorStore

    table = plugin / "llms.yaml"
    table.write_text(yaml.safe_dump({"models": {"echo": {"provider": "my_components:EchoProvider"}}}))
    llms = LlmProvider(models_dir=str(plugin), llm_table=str(table))
    assert llms.served_by_providers() == {"echo"}
    settings = llms.settings_for("echo")
    assert settings.provider == "my_components:EchoProvider" and settings.model == "echo"
    llm = make_llm(settings)
    assert isinstance(llm, MockLLM) and llm.complete("hello").text == "hello"
    store = VectorStore(kind="my_components:SimpleBackend").settings()
    assert isinstance(llama_vector_store(store, "t", 3), SimpleVectorStore)
    with pytest.raises(ValueError, match="vector store must be 'lancedb' or 'pgvector'"):
        VectorStoreSettings(kind="milvus")
    table.write_text(yaml.safe_dump({"models": {"echo": {"provider": "my_components:SimpleBackend"}}}))
    with pytest.raises(ValueError, match="is not a subclass of dream_assets.plugins.llm_providers.LlmProviderBase"):
        LlmProvider(models_dir=str(plugin), llm_table=str(table)).settings_for("echo")


def test_a_metric_that_raises_on_a_question_scores_it_nan_and_the_summary_counts_it(caplog):
    from dream_assets.lib.evaluation.summary import summarize
    from dream_assets.plugins.metrics import Metric

    def share_of(retrieved, references):
        return sum(bool(set(ids) & set(references)) for ids in retrieved) / len(retrieved)

    share = Metric("share", "retrieval", "share of retrieved contexts that cover a reference", share_of)
    values = [share.value([["a"], ["b"]], ["a"]), share.value([], ["a"])]
    assert values[0] == 0.5 and math.isnan(values[1])
    assert "metric share could not score a question: ZeroDivisionError" in caplog.text
    columns = {"error": "", "retrieval_latency_s": 0.1, "generation_latency_s": math.nan, "generated": False}
    table = pd.DataFrame({"question_id": ["q1", "q2"], "hit_rate": [1.0, values[1]], **columns})
    summary = summarize(table)
    assert summary["hit_rate_n"] == 1 and summary["hit_rate_coverage"] == 0.5


def test_an_optuna_search_draws_each_method_its_own_parameters():
    import optuna

    from dream_assets.lib.retrieval.methods.semantic import SemanticMethod
    from dream_assets.search_space import RangeSpace

    space = RangeSpace.model_validate(
        {
            "methods": ["chunks", "semantic"],
            "params": {"breakpoint_percentile_threshold": {"low": 80, "high": 95, "step": 5}},
            "embedding_models": ["m"],
            "llms": ["l"],
            "samples": 30,
        }  # fmt: skip
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = []
    for _ in range(30):
        trial = study.ask()
        space.suggest(trial)
        configs.append(RangeSpace.config_from(trial.params))
        study.tell(trial, 0.0)
    semantic = [c.retrieval for c in configs if isinstance(c.retrieval, SemanticMethod)]
    chunks = [c.retrieval for c in configs if c.retrieval.method == "chunks"]
    assert semantic and chunks
    assert {m.breakpoint_percentile_threshold for m in semantic} <= {80, 85, 90, 95} and len(semantic) > 3
    assert {m.buffer_size for m in semantic} == {1}  # no dimension: its default
    assert all(m.chunk_overlap <= m.chunk_size // 2 for m in chunks)
