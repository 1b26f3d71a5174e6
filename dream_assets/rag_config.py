"""RAG configurations: the models of one configuration, the search-space loader, partition slugs.

A configuration is (retrieval method with its parameters, embedding model, LLM, top-k). Its
partition key is a readable slug such as `chunks512o64_minilm-l6_gemma3-270m_k4`; the
`index_key` (retrieval method × embedding model) names the embedding index it shares with every
configuration that differs only in LLM or top-k.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dream_assets.hashing import slugify
from dream_assets.plugins.methods import METHODS, RetrievalMethod, method_class
from dream_assets.plugins.metrics import METRICS
from dream_assets.plugins.registry import registered
from dream_assets.plugins.rerankers import RERANKERS
from dream_assets.plugins.retrievers import RETRIEVERS

DEFAULT_SEARCH_SPACE = Path(__file__).resolve().parent.parent / "config" / "search_space.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


RetrieverName = registered(RETRIEVERS)
RerankerName = registered(RERANKERS)
MethodName = registered(METHODS)
MetricName = registered(METRICS)


class RagConfig(_Frozen):
    """One point of the search space: one Dagster partition, one Ray Tune trial, one MLflow run.

    `retrieval`: a registered retrieval method with its parameters (`dream_assets.lib.retrieval.methods`).
    `retriever` (`dream_assets.lib.retrieval.retrievers`): `vector` (top-k by embedding similarity),
    `bm25` (LlamaIndex's BM25Retriever over the same nodes: lexical), or `hybrid` (both, fused
    by reciprocal rank fusion, Cormack et al. 2009, through LlamaIndex's QueryFusionRetriever),
    or a plug-in's name. `reranker` (`dream_assets.lib.retrieval.rerankers`): `none`, `finetuned` or a
    plug-in's name."""

    retrieval: RetrievalMethod
    embedding_model: str
    llm: str
    top_k: int = Field(gt=0)
    retriever: RetrieverName = "vector"
    reranker: RerankerName = "none"

    @property
    def index_key(self) -> str:
        """Partition key of the embedding index this configuration reads (BM25 reads its nodes)."""
        return f"{self.retrieval.slug}_{slug_of(self.embedding_model)}"

    @property
    def key(self) -> str:
        """Partition key of this configuration."""
        key = f"{self.index_key}_{slug_of(self.llm)}_k{self.top_k}"
        key = key if self.retriever == "vector" else f"{key}_{slugify(self.retriever)}"
        return key if self.reranker == "none" else f"{key}_rr-{slugify(self.reranker)}"

    def params(self) -> dict[str, str | int]:
        """Flat parameters for MLflow and the leaderboard (no secret, no path)."""
        flat: dict[str, str | int] = {
            f"retrieval.{name}": "-".join(map(str, value)) if isinstance(value, tuple) else value
            for name, value in self.retrieval.model_dump().items()
        }
        flat.update(
            embedding_model=self.embedding_model,
            llm=self.llm,
            top_k=self.top_k,
            retriever=self.retriever,
            reranker=self.reranker,
        )
        return flat


class IntRange(_Frozen):
    """An integer dimension sampled from [low, high] in steps of `step` (Optuna's `suggest_int`).

    Raises:
        pydantic.ValidationError: if low > high or step < 1.
    """

    low: int
    high: int
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}")
        return self


IntDimension = IntRange | list[int]


class RangeSpace(_Frozen):
    """The `ranges:` section of a search space: dimensions as choices (lists) or ranges
    (`{low, high, step}`), sampled by Optuna (`search: optuna`), for spaces too large for a grid.
    Each sampled configuration builds or reuses its content-addressed index.

    Attributes:
        methods: retrieval methods to sample (registered names or import paths); each draws its
            own integer parameters from the dimensions of the same name
            (`RetrievalMethodBase.suggest`), keeping its defaults for the others.
        chunk_size, chunk_overlap: tokens, for `chunks` (overlap kept below the size).
        window_size: sentences either side, for `sentence_window`.
        params: dimensions of other methods' integer parameters by name
            (`breakpoint_percentile_threshold: {low: 80, high: 95, step: 5}` for `semantic`).
        embedding_models, llms, retrievers: choices.
        top_k: contexts retrieved.
        samples: configurations the search evaluates.
    """

    methods: list[MethodName] = ["chunks"]
    chunk_size: IntDimension = IntRange(low=128, high=512, step=64)
    chunk_overlap: IntDimension = IntRange(low=0, high=64, step=16)
    window_size: IntDimension = IntRange(low=1, high=4)
    params: dict[str, IntDimension] = {}
    embedding_models: list[str]
    llms: list[str]
    top_k: IntDimension = IntRange(low=1, high=8)
    retrievers: list[RetrieverName] = ["vector"]
    samples: int = Field(16, ge=1)

    def dimension(self, name: str) -> IntDimension | None:
        """The dimension of an integer parameter: its own field, else `params[name]`, else None."""
        if name in ("chunk_size", "chunk_overlap", "window_size"):
            return getattr(self, name)
        return self.params.get(name)

    @staticmethod
    def draw(trial, name: str, dimension: IntDimension, high: int | None = None) -> int:
        """Draws one integer on an `optuna.Trial`: a choice from a list, else from the range
        (its top lowered to `high`, never below its low)."""
        if isinstance(dimension, list):
            return trial.suggest_categorical(name, dimension)
        top = max(dimension.low, min(dimension.high, high)) if high is not None else dimension.high
        return trial.suggest_int(name, dimension.low, top, step=dimension.step)

    def suggest(self, trial) -> dict:
        """Optuna define-by-run space: draws one configuration's parameters on an
        `optuna.Trial` (only the method's own parameters are drawn)."""
        method = trial.suggest_categorical("method", self.methods)
        method_class(method).suggest(trial, self)
        trial.suggest_categorical("embedding_model", self.embedding_models)
        trial.suggest_categorical("llm", self.llms)
        self.draw(trial, "top_k", self.top_k)
        trial.suggest_categorical("retriever", self.retrievers)
        return {}

    @staticmethod
    def config_from(params: dict) -> RagConfig:
        """The `RagConfig` of parameters drawn by `suggest`."""
        method = method_class(params["method"]).from_params(params["method"], params)
        return RagConfig(
            retrieval=method,
            embedding_model=params["embedding_model"],
            llm=params["llm"],
            top_k=params["top_k"],
            retriever=params["retriever"],
        )


class SearchSpace(_Frozen):
    """The grid of a sweep, as written in `config/search_space.yaml`, and the optional ranges
    of an Optuna search (`ranges`).

    Every component is named by its registered name, entry point or import path
    (`dream_assets.plugins.registry`) and checked when the file is read. `metrics`: metrics scored in
    every trial on top of the built-ins and the installed `dream.metrics` entry points (import
    paths of `dream_assets.lib.evaluation.metric_catalog.Metric` objects)."""

    retrieval: list[RetrievalMethod] = Field(min_length=1)
    embedding_models: list[str] = Field(min_length=1)
    llms: list[str] = Field(min_length=1)
    top_k: list[Annotated[int, Field(gt=0)]] = Field(min_length=1)
    retrievers: list[RetrieverName] = ["vector"]
    rerankers: list[RerankerName] = ["none"]
    metrics: list[MetricName] = []
    ranges: RangeSpace | None = None

    def configs(self) -> list[RagConfig]:
        """Every combination, in file order.

        Raises:
            ValueError: if two combinations share a partition key.
        """
        configs = [
            RagConfig(retrieval=r, embedding_model=e, llm=m, top_k=k, retriever=v, reranker=x)
            for r, e, m, k, v, x in itertools.product(
                self.retrieval, self.embedding_models, self.llms, self.top_k, self.retrievers, self.rerankers
            )
        ]
        keys = [config.key for config in configs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"search space has duplicate configuration keys: {sorted(keys)}")
        return configs


def slug_of(model_name: str) -> str:
    """Short readable slug of a model name: 'all-MiniLM-L6-v2' gives 'minilm-l6', and with an
    embedding backend 'all-MiniLM-L6-v2@onnx-int8' gives 'minilm-l6-onnx-int8'."""
    base, _, backend = model_name.partition("@")
    slug = slugify(base.split("/")[-1])
    for prefix in ("all-",):
        slug = slug.removeprefix(prefix)
    for suffix in ("-v2", "-instruct", "-it"):
        slug = slug.removesuffix(suffix)
    return f"{slug}-{slugify(backend)}" if backend else slug


def search_space_path() -> Path:
    """The search-space file in use: the one `DREAM_SEARCH_SPACE` names, else the default."""
    return Path(os.environ.get("DREAM_SEARCH_SPACE") or DEFAULT_SEARCH_SPACE)


class SearchSpaceError(ValueError):
    """A search-space file that does not fit `SearchSpace`: the message names the file, then each
    offending field with its value and what is allowed (pydantic's messages)."""


def load_search_space(path: str | Path | None = None) -> SearchSpace:
    """Reads a search-space YAML file: `path`, else the file named by `DREAM_SEARCH_SPACE`,
    else `config/search_space.yaml`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        SearchSpaceError: naming each offending field, its value and what is allowed, if the
            file does not fit the model (an unknown key, `top_k` below 1, `chunk_overlap` not
            below `chunk_size`, ...) or two configurations share a key.
    """
    path = path or search_space_path()
    with open(path, encoding="utf-8") as file:
        data = yaml.safe_load(file)
    try:
        space = SearchSpace.model_validate(data)
        space.configs()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc'])) or '(file)'}: {problem['msg']} (got {problem['input']!r:.80})"
            for problem in error.errors()
        )
        raise SearchSpaceError(f"search space {path}: {problems}") from error
    except ValueError as error:
        raise SearchSpaceError(f"search space {path}: {error}") from error
    return space
