"""Where an embedding index is and how a worker opens it: `IndexSpec` (plain settings) and
`load_retriever`, which downloads the index once per node (`dream_assets.lib.node_local`) and
opens a `Retriever` on it."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from pydantic import BaseModel

from dream_assets.lib.models.embeddings import EmbeddingSettings
from dream_assets.lib.node_local import download_once
from dream_assets.lib.stores.object_store import ObjectStoreSettings
from dream_assets.plugins.methods import RetrievalMethod
from dream_assets.plugins.vector_stores import VectorStoreSettings

logger = logging.getLogger(__name__)


class IndexSpec(BaseModel):
    """Where one persisted embedding index is and how to open it (plain data for actors).

    Attributes:
        method: the retrieval method the index was built with.
        embedding: its embedding model (queries are embedded with it).
        object_store: how to open the object store.
        index_prefix: object-store prefix of the persisted index.
        vector_store: where its vectors are (LanceDB, the default: inside `index_prefix`).
        vector_table: its table in an external vector store, if any.
        scratch_dir: node-local directory the index is downloaded to (shared by the processes
            of one node; '' for the system temporary directory).
    """

    method: RetrievalMethod
    embedding: EmbeddingSettings
    object_store: ObjectStoreSettings
    index_prefix: str
    vector_store: VectorStoreSettings = VectorStoreSettings()
    vector_table: str | None = None
    scratch_dir: str = ""


def load_retriever(spec: IndexSpec, top_k: int, reranker=None, retriever: str = "vector"):
    """Downloads the index to the node's scratch directory once (`download_once`, which checks a
    copy already there against the object store) and opens a `Retriever` on it (with `reranker`:
    a cross-encoder directory or `dream_assets.lib.retrieval.rerankers.open_reranker`'s
    function, and a registered `retriever`); a copy that does not open is downloaded again and
    opened once more.

    Raises:
        FileNotFoundError: if the index is not in the object store.
        Exception: what opening a fresh copy raised.
    """
    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.models.threads import pin_threads
    from dream_assets.lib.retrieval.indexes import MANIFEST
    from dream_assets.lib.retrieval.nodes import embedding_dimensions
    from dream_assets.lib.retrieval.retriever import Retriever
    from dream_assets.lib.stores.object_store import ObjectStoreClient
    from dream_assets.lib.stores.vector_stores import llama_vector_store
    from dream_assets.plugins.retrievers import RETRIEVERS

    pin_threads()  # this process embeds queries and searches: threads for the CPUs it holds
    store = ObjectStoreClient(spec.object_store)
    indexes = str(Path(spec.scratch_dir or tempfile.gettempdir()) / "indexes")
    scratch = download_once(store, spec.index_prefix, indexes, MANIFEST)
    # a lexical retriever reads no embedding: its process loads no model (as AutoRAG's does not)
    embed_model = make_embedding(spec.embedding) if RETRIEVERS.get(retriever).uses_embeddings else None
    vectors = (
        spec.vector_table
        and embed_model is not None
        and llama_vector_store(spec.vector_store, spec.vector_table, embedding_dimensions(embed_model))
    )
    options = {"reranker": reranker, "retriever": retriever}
    try:
        return Retriever(scratch, spec.method, embed_model, top_k, vectors or None, **options)
    except Exception as error:  # noqa: BLE001 - a copy that does not open is downloaded again, once
        logger.warning("index copy %s did not open (%s): downloading it again", scratch, error)
        scratch = download_once(store, spec.index_prefix, indexes, MANIFEST, refresh=True)
        return Retriever(scratch, spec.method, embed_model, top_k, vectors or None, **options)
