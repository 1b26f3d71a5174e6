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
from pydantic import BaseModel, ConfigDict, Field

from dream_assets.lib.hashing import slugify

DEFAULT_SEARCH_SPACE = Path(__file__).resolve().parent.parent / "config" / "search_space.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChunksMethod(_Frozen):
    """Fixed-size chunks with overlap (LlamaIndex `SentenceSplitter`), sizes in tokens."""

    method: Literal["chunks"] = "chunks"
    chunk_size: int = Field(512, gt=16)
    chunk_overlap: int = Field(64, ge=0)

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
    chunk_sizes: tuple[int, ...] = (1024, 256, 64)

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


class SearchSpace(_Frozen):
    """The grid of a sweep, as written in `config/search_space.yaml`."""

    retrieval: list[RetrievalMethod]
    embedding_models: list[str]
    llms: list[str]
    top_k: list[int]
    retrievers: list[Literal["vector", "bm25", "hybrid"]] = ["vector"]
    rerankers: list[Literal["none", "finetuned"]] = ["none"]

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
    """Short readable slug of a model name: 'all-MiniLM-L6-v2' gives 'minilm-l6'."""
    slug = slugify(model_name.split("/")[-1])
    for prefix in ("all-",):
        slug = slug.removeprefix(prefix)
    for suffix in ("-v2", "-instruct", "-it"):
        slug = slug.removesuffix(suffix)
    return slug


def load_search_space(path: str | Path | None = None) -> SearchSpace:
    """Reads a search-space YAML file: `path`, else the file named by `DREAM_SEARCH_SPACE`,
    else `config/search_space.yaml`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        pydantic.ValidationError: naming the offending field if the file does not fit the model.
    """
    path = path or os.environ.get("DREAM_SEARCH_SPACE") or DEFAULT_SEARCH_SPACE
    with open(path, encoding="utf-8") as file:
        return SearchSpace.model_validate(yaml.safe_load(file))
