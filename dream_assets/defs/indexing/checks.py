"""Asset check of the embedding indexes: the vectors, read back from where they are stored."""

import dagster as dg
import pandas as pd
import psycopg

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.metadata import table_metadata
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets.lib.retrieval.index_checks import index_problems, referenced_nodes, stored_vector_dimensions
from dream_assets.lib.retrieval.nodes import embedding_dimensions
from dream_assets.search_space import SearchSpace
from resources.embeddings import EmbeddingProvider
from resources.object_store import ObjectStore
from resources.vector_stores import VectorStore


@dg.asset_check(
    asset="embedding_index",
    description="Every node each current index embedded has one stored vector, of its embedding model's length.",
)
def embedding_index_vectors(
    context: dg.AssetCheckExecutionContext,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    vector_store: VectorStore,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.AssetCheckResult:
    """Fails (ERROR) when the current version of an index of the run's corpus stores fewer or
    more vectors than the nodes it embedded, a node twice, a null vector, a vector whose length
    is not its model's (measured on one probe text), or refers to a node without a vector
    (`dream_assets.lib.retrieval.index_checks.index_problems`), or when its stored files or table cannot
    be read (`unreadable`: a lost index). Metadata: one row per index."""
    store = object_store.client()
    corpus, dsn = corpus_of(context), vector_store.settings().dsn
    rows, model_dimensions = [], {}
    for index_key, (_, model, _) in search_space.index_settings.items():
        if not store.exists(layout.index_pointer(index_key, corpus)):
            continue
        pointer = store.read_json(layout.index_pointer(index_key, corpus))
        if model not in model_dimensions:
            model_dimensions[model] = embedding_dimensions(make_embedding(embeddings.settings_for(model)))
        row = {"index": index_key, "version": pointer["version"], "embedded": None, "vectors": None}
        try:
            manifest = store.read_json(f"{pointer['prefix']}/manifest.json")
            dimensions = stored_vector_dimensions(store, pointer["prefix"], pointer.get("table"), dsn)
            referenced = referenced_nodes(store, pointer["prefix"])
        except (FileNotFoundError, KeyError, ValueError, psycopg.Error) as error:  # a lost or damaged index
            problems = [f"unreadable: {type(error).__name__}: {error}"]
        else:
            problems = index_problems(manifest, dimensions, model_dimensions[model], referenced)
            row |= {"embedded": manifest["embedded"], "vectors": len(dimensions)}
        rows.append(row | {"dimension": model_dimensions[model], "problems": "; ".join(problems)})
    table = pd.DataFrame(rows, columns=["index", "version", "embedded", "vectors", "dimension", "problems"])
    return dg.AssetCheckResult(
        passed=bool(rows) and not table["problems"].ne("").any(),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"indexes": table_metadata(table)},
    )
