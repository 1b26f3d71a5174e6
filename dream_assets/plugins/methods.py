"""The contract of a retrieval method (`RetrievalMethodBase`): how documents become indexed
nodes and how retrieved nodes become contexts. Registered in `METHODS`
(entry-point group `dream.methods`); the built-ins (chunks, sentence window, auto-merging,
semantic) are in `dream_assets.lib.retrieval.methods`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, SerializeAsAny, ValidationError

from dream_assets.plugins.registry import Registry, subclass_of

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.node_parser import NodeParser
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import BaseNode
    from llama_index.core.storage import StorageContext


class RetrievalMethodBase(BaseModel, ABC):
    """One retrieval method with its parameters (frozen pydantic fields, validated like any
    search-space entry). `method` is its registered name or import path.

    Subclasses implement `slug` and `node_parser`; the other hooks default to a flat method
    (every node embedded, retrieved nodes handed to the LLM as they are). Spans: DREAM sets
    each node's `span_start`/`span_end` from LlamaIndex's character offsets, so a method's node
    parser must be one whose nodes are substrings of their document (every LlamaIndex text
    splitter is), or `finish_nodes` must set the spans itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    # True where `node_parser` embeds (semantic splitting): the model is then loaded where the
    # documents are split, not only where the nodes are embedded
    splits_by_embedding: ClassVar[bool] = False

    @property
    @abstractmethod
    def slug(self) -> str:
        """Readable, unique id of the method and its parameters, part of partition keys
        (`chunks512o64`): lower-case letters, digits and `-` only."""

    @abstractmethod
    def node_parser(self, embed_model: BaseEmbedding | None) -> NodeParser:
        """The LlamaIndex node parser (`embed_model`: the index's model, for methods that
        split by embedding; None where there is none)."""

    def finish_nodes(self, nodes: list[BaseNode]) -> list[BaseNode]:
        """After parsing (spans set): adjusts the nodes in place, returns those to embed."""
        return nodes

    def wrap_retriever(self, retriever: BaseRetriever, storage_context: StorageContext) -> BaseRetriever:
        """The retriever the configuration queries, around the base one (vector, BM25, ...)."""
        return retriever

    def postprocessor(self) -> BaseNodePostprocessor | None:
        """Applied to retrieved nodes before reranking (e.g. a sentence's window), or None."""
        return None

    @classmethod
    def suggest(cls, trial: Any, space: Any) -> None:
        """Draws this method's integer parameters on an `optuna.Trial` from a `RangeSpace`'s
        dimensions of the same name (`space.dimension(name)`); a parameter the space has no
        dimension for keeps its default."""
        for name, field in cls.model_fields.items():
            dimension = space.dimension(name) if field.annotation in (int, "int") else None
            if dimension is not None:
                space.draw(trial, name, dimension)

    @classmethod
    def from_params(cls, name: str, params: dict) -> RetrievalMethodBase:
        """The method of the parameters `suggest` drew (others in `params` are ignored)."""
        own = {key: value for key, value in params.items() if key in cls.model_fields and key != "method"}
        return cls(method=name, **own)


BUILTIN_METHODS = {
    "chunks": "dream_assets.lib.retrieval.methods.chunks:ChunksMethod",
    "sentence_window": "dream_assets.lib.retrieval.methods.sentence_window:SentenceWindowMethod",
    "auto_merging": "dream_assets.lib.retrieval.methods.auto_merging:AutoMergingMethod",
    "semantic": "dream_assets.lib.retrieval.methods.semantic:SemanticMethod",
}


METHODS = Registry("retrieval method", "dream.methods", BUILTIN_METHODS, subclass_of(RetrievalMethodBase))


def method_class(name: str) -> type[RetrievalMethodBase]:
    """The class registered as `name` (see `dream_assets.plugins.registry`).

    Raises:
        dream_assets.plugins.registry.UnknownComponentError: naming the known methods.
    """
    return METHODS.get(name)


def _resolve(value: Any) -> Any:
    if isinstance(value, RetrievalMethodBase) or not isinstance(value, dict):
        return value
    name = value.get("method")
    if not isinstance(name, str):
        raise ValueError("a retrieval method needs `method`: a registered name or an import path")
    try:
        return method_class(name).model_validate({**value, "method": name})
    except ValidationError as error:  # located under the method's name, as a tagged union would
        details = [
            {"type": error["type"], "loc": (name, *error["loc"]), "input": error["input"], "ctx": error.get("ctx", {})}
            for error in error.errors()
        ]
        raise ValidationError.from_exception_data(error.title, details) from None  # pyright: ignore[reportArgumentType]


# A search space's retrieval method: a mapping whose `method` names the class, validated by it.
RetrievalMethod = Annotated[SerializeAsAny[RetrievalMethodBase], BeforeValidator(_resolve)]
