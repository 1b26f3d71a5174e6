"""RAG configurations: the model of one configuration and its partition-key slugs.

A configuration is (document parser, retrieval method with its parameters, embedding model, LLM,
top-k, retriever, reranker). Its partition key is a readable slug such as
`chunks512o64_minilm-l6_gemma3-270m_k4`; the `index_key` (parser × retrieval method × embedding
model) names the embedding index it shares with every configuration that differs only in LLM or
top-k. The default parser (`pypdf`) is left out of both keys, so keys made before parsers were a
dimension still name the same indexes and trials; another parser adds `_p-<parser>`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dream_assets.hashing import slugify
from dream_assets.plugins.methods import METHODS, RetrievalMethod
from dream_assets.plugins.metrics import METRICS
from dream_assets.plugins.parsers import DEFAULT_PARSER, ParserName
from dream_assets.plugins.registry import registered
from dream_assets.plugins.rerankers import RERANKERS
from dream_assets.plugins.retrievers import RETRIEVERS


class FrozenModel(BaseModel):
    """A frozen pydantic model that refuses unknown fields (every search-space entry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


RetrieverName = Annotated[str, registered(RETRIEVERS)]
RerankerName = Annotated[str, registered(RERANKERS)]
MethodName = Annotated[str, registered(METHODS)]
MetricName = Annotated[str, registered(METRICS)]


class RagConfig(FrozenModel):
    """One point of the search space: one Dagster partition, one Ray Tune trial, one MLflow run.

    `retrieval`: a registered retrieval method with its parameters (`dream_assets.lib.retrieval.methods`).
    `retriever` (`dream_assets.lib.retrieval.retrievers`): `vector` (top-k by embedding similarity),
    `bm25` (LlamaIndex's BM25Retriever over the same nodes: lexical), or `hybrid` (both, fused
    by reciprocal rank fusion, Cormack et al. 2009, through LlamaIndex's QueryFusionRetriever),
    or a plug-in's name. `reranker` (`dream_assets.lib.retrieval.rerankers`): `none`, `finetuned` or a
    plug-in's name. `parser` (`dream_assets.plugins.parsers`): the document parser whose text the
    index is built from (`pypdf`, `pdfium`, `layout`, `ocr` or a plug-in's name)."""

    retrieval: RetrievalMethod
    embedding_model: str
    llm: str
    top_k: int = Field(gt=0)
    retriever: RetrieverName = "vector"
    reranker: RerankerName = "none"
    parser: ParserName = DEFAULT_PARSER

    @property
    def index_key(self) -> str:
        """Partition key of the embedding index this configuration reads (BM25 reads its nodes)."""
        key = f"{self.retrieval.slug}_{slug_of(self.embedding_model)}"
        return key if self.parser == DEFAULT_PARSER else f"{key}_p-{slugify(self.parser)}"

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
            parser=self.parser,
        )
        return flat

    def identity(self) -> dict:
        """The configuration as JSON for fingerprints: the default parser left out, so trials
        fingerprinted before parsers were a dimension stay valid."""
        return self.model_dump(mode="json", exclude={"parser"} if self.parser == DEFAULT_PARSER else set())


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
