"""The search space: the grid of a sweep (`config/search_space.yaml`), the optional ranges of an
Optuna search, and its loader. It is read once, where the definitions are built
(`dream_assets.definitions.build_definitions`), and handed to what needs it: the partitions
(`dream_assets.partitions.sweep_partitions`) and the assets (the `search_space` resource)."""

from __future__ import annotations

import itertools
from functools import cached_property
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, ValidationError, model_validator

from dream_assets.package_data import config_file
from dream_assets.plugins.methods import RetrievalMethod, RetrievalMethodBase, method_class
from dream_assets.plugins.parsers import DEFAULT_PARSER, ParserName
from dream_assets.rag_config import FrozenModel, MethodName, MetricName, RagConfig, RerankerName, RetrieverName

DEFAULT_SEARCH_SPACE = config_file("search_space.yaml")
# The full-evidence run's (`dream run --full-evidence`): the default with fp32 embeddings on torch.
FULL_EVIDENCE_SEARCH_SPACE = config_file("search_space.full.yaml")


class IntRange(FrozenModel):
    """An integer dimension sampled from [low, high] in steps of `step` (Optuna's `suggest_int`).

    Raises:
        pydantic.ValidationError: if low > high or step < 1.
    """

    low: int
    high: int
    step: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}")
        return self


IntDimension = IntRange | list[int]


class RangeSpace(FrozenModel):
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
        embedding_models, llms, retrievers, parsers: choices.
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
    parsers: list[ParserName] = [DEFAULT_PARSER]
    samples: int = Field(default=16, ge=1)

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
        trial.suggest_categorical("parser", self.parsers)
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
            parser=params.get("parser", DEFAULT_PARSER),
        )


class SearchSpace(FrozenModel):
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
    parsers: list[ParserName] = Field(default=[DEFAULT_PARSER], min_length=1)
    metrics: list[MetricName] = []
    ranges: RangeSpace | None = None

    def configs(self) -> list[RagConfig]:
        """Every combination, in file order.

        Raises:
            ValueError: if two combinations share a partition key.
        """
        configs = [
            RagConfig(retrieval=r, embedding_model=e, llm=m, top_k=k, retriever=v, reranker=x, parser=p)
            for p, r, e, m, k, v, x in itertools.product(
                self.parsers,
                self.retrieval,
                self.embedding_models,
                self.llms,
                self.top_k,
                self.retrievers,
                self.rerankers,
            )
        ]
        keys = [config.key for config in configs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"search space has duplicate configuration keys: {sorted(keys)}")
        return configs

    @cached_property
    def configs_by_key(self) -> dict[str, RagConfig]:
        """Every configuration by partition key, in file order."""
        return {config.key: config for config in self.configs()}

    @cached_property
    def index_settings(self) -> dict[str, tuple[RetrievalMethodBase, str, str]]:
        """(retrieval method, embedding model, parser) of every embedding index, by index key."""
        return {
            config.index_key: (config.retrieval, config.embedding_model, config.parser) for config in self.configs()
        }

    @property
    def golden_parser(self) -> str:
        """The parser whose text the golden set is built on: the first of `parsers` (list first
        the one that reads the most of your documents); every other parser gets the golden set
        aligned into its text."""
        return self.parsers[0]


class SearchSpaceError(ValueError):
    """A search-space file that does not fit `SearchSpace`: the message names the file, then each
    offending field with its value and what is allowed (pydantic's messages)."""


def default_search_space_file() -> Path:
    """The search space read when none is named: `DREAM_SEARCH_SPACE` (`dream_assets.settings`),
    else the shipped `config/search_space.yaml` (`DEFAULT_SEARCH_SPACE`)."""
    from dream_assets.settings import settings

    return settings().search_space or DEFAULT_SEARCH_SPACE


def load_search_space(path: str | Path | None = None) -> SearchSpace:
    """Reads a search-space YAML file: `path`, else `default_search_space_file()`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        SearchSpaceError: naming each offending field, its value and what is allowed, if the
            file does not fit the model (an unknown key, `top_k` below 1, `chunk_overlap` not
            below `chunk_size`, ...) or two configurations share a key.
    """
    path = path or default_search_space_file()
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
