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
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dream_assets.lib.hashing import slugify

DEFAULT_SEARCH_SPACE = Path(__file__).resolve().parent.parent / "config" / "search_space.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChunksMethod(_Frozen):
    """Fixed-size chunks with overlap (LlamaIndex `SentenceSplitter`), sizes in tokens."""

    method: Literal["chunks"] = "chunks"
    chunk_size: int = Field(512, gt=16)
    chunk_overlap: int = Field(64, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunksMethod:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap {self.chunk_overlap} must be below chunk_size {self.chunk_size}")
        return self

    @property
    def slug(self) -> str:
        """Readable id, e.g. `chunks512o64`."""
        return f"chunks{self.chunk_size}o{self.chunk_overlap}"


class SentenceWindowMethod(_Frozen):
    """One sentence per node, replaced by `window_size` sentences either side at query time
    (LlamaIndex `SentenceWindowNodeParser` + `MetadataReplacementPostProcessor`)."""

    method: Literal["sentence_window"] = "sentence_window"
    window_size: int = Field(3, ge=0)

    @property
    def slug(self) -> str:
        """Readable id, e.g. `window3`."""
        return f"window{self.window_size}"


class AutoMergingMethod(_Frozen):
    """Hierarchical chunks, leaves indexed, parents merged in when most of their children are
    retrieved (LlamaIndex `HierarchicalNodeParser` + `AutoMergingRetriever`); sizes in tokens,
    largest first."""

    method: Literal["auto_merging"] = "auto_merging"
    chunk_sizes: tuple[Annotated[int, Field(gt=16)], ...] = Field((1024, 256, 64), min_length=2)

    @model_validator(mode="after")
    def _largest_first(self) -> AutoMergingMethod:
        if list(self.chunk_sizes) != sorted(set(self.chunk_sizes), reverse=True):
            raise ValueError(f"chunk_sizes {list(self.chunk_sizes)} must be distinct and largest first")
        return self

    @property
    def slug(self) -> str:
        """Readable id, e.g. `automerge1024-256-64`."""
        return "automerge" + "-".join(str(size) for size in self.chunk_sizes)


RetrievalMethod = Annotated[ChunksMethod | SentenceWindowMethod | AutoMergingMethod, Field(discriminator="method")]


class RagConfig(_Frozen):
    """One point of the search space: one Dagster partition, one Ray Tune trial, one MLflow run.

    `retriever`: `vector` (top-k by embedding similarity), `bm25` (LlamaIndex's BM25Retriever
    over the same nodes: lexical), or `hybrid` (both, fused by reciprocal rank fusion, Cormack
    et al. 2009, through LlamaIndex's QueryFusionRetriever)."""

    retrieval: RetrievalMethod
    embedding_model: str
    llm: str
    top_k: int = Field(gt=0)
    retriever: Literal["vector", "bm25", "hybrid"] = "vector"
    reranker: Literal["none", "finetuned"] = "none"

    @property
    def index_key(self) -> str:
        """Partition key of the embedding index this configuration reads (BM25 reads its nodes)."""
        return f"{self.retrieval.slug}_{slug_of(self.embedding_model)}"

    @property
    def key(self) -> str:
        """Partition key of this configuration."""
        key = f"{self.index_key}_{slug_of(self.llm)}_k{self.top_k}"
        key = key if self.retriever == "vector" else f"{key}_{self.retriever}"
        return key if self.reranker == "none" else f"{key}_rr-{self.reranker}"

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
        methods: retrieval methods to sample (`chunks`, `sentence_window`).
        chunk_size, chunk_overlap: tokens, for `chunks` (overlap kept below the size).
        window_size: sentences either side, for `sentence_window`.
        embedding_models, llms, retrievers: choices.
        top_k: contexts retrieved.
        samples: configurations the search evaluates.
    """

    methods: list[Literal["chunks", "sentence_window"]] = ["chunks"]
    chunk_size: IntDimension = IntRange(low=128, high=512, step=64)
    chunk_overlap: IntDimension = IntRange(low=0, high=64, step=16)
    window_size: IntDimension = IntRange(low=1, high=4)
    embedding_models: list[str]
    llms: list[str]
    top_k: IntDimension = IntRange(low=1, high=8)
    retrievers: list[Literal["vector", "bm25", "hybrid"]] = ["vector"]
    samples: int = Field(16, ge=1)

    def suggest(self, trial) -> dict:
        """Optuna define-by-run space: draws one configuration's parameters on an
        `optuna.Trial` (only the method's own parameters are drawn)."""

        def integer(name: str, dimension: IntDimension, high: int | None = None) -> int:
            if isinstance(dimension, list):
                return trial.suggest_categorical(name, dimension)
            top = max(dimension.low, min(dimension.high, high)) if high is not None else dimension.high
            return trial.suggest_int(name, dimension.low, top, step=dimension.step)

        method = trial.suggest_categorical("method", self.methods)
        if method == "chunks":
            size = integer("chunk_size", self.chunk_size)
            integer("chunk_overlap", self.chunk_overlap, high=size // 2)
        else:
            integer("window_size", self.window_size)
        trial.suggest_categorical("embedding_model", self.embedding_models)
        trial.suggest_categorical("llm", self.llms)
        integer("top_k", self.top_k)
        trial.suggest_categorical("retriever", self.retrievers)
        return {}

    @staticmethod
    def config_from(params: dict) -> RagConfig:
        """The `RagConfig` of parameters drawn by `suggest`."""
        if params["method"] == "chunks":
            method = ChunksMethod(chunk_size=params["chunk_size"], chunk_overlap=params["chunk_overlap"])
        else:
            method = SentenceWindowMethod(window_size=params["window_size"])
        return RagConfig(
            retrieval=method,
            embedding_model=params["embedding_model"],
            llm=params["llm"],
            top_k=params["top_k"],
            retriever=params["retriever"],
        )


class SearchSpace(_Frozen):
    """The grid of a sweep, as written in `config/search_space.yaml`, and the optional ranges
    of an Optuna search (`ranges`)."""

    retrieval: list[RetrievalMethod] = Field(min_length=1)
    embedding_models: list[str] = Field(min_length=1)
    llms: list[str] = Field(min_length=1)
    top_k: list[Annotated[int, Field(gt=0)]] = Field(min_length=1)
    retrievers: list[Literal["vector", "bm25", "hybrid"]] = ["vector"]
    rerankers: list[Literal["none", "finetuned"]] = ["none"]
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
