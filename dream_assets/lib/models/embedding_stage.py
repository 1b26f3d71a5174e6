"""The one embedding stage of both data paths: the experiment's index shards
(`dream_assets.lib.retrieval.shards`) and the bulk OSCAR pipeline (`dream_assets.lib.bulk`).

Texts are embedded by `EmbeddingActor`s, a Ray Data callable class that loads the model once per
actor (any backend: torch, ONNX, ONNX int8, through `make_embedding`) with its threads pinned to
the CPUs the actor was granted (`dream_assets.lib.models.threads`), over `map_batches` with an
actor pool sized from the cluster's CPUs. On a multi-node cluster every node's actors embed in
parallel. `embed_texts` runs a batch in the calling process instead where starting actors and
loading the model in each costs more than it saves (`RAY_DATA_MIN_TEXTS` where the cluster has
other nodes, `RAY_DATA_MIN_TEXTS_ONE_MACHINE` where it does not; measured).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from llama_index.core.base.embeddings.base import BaseEmbedding

from dream_assets.lib.models.embeddings import EmbeddingSettings, make_embedding

# Where the actors pay off (benchmarks/bench_embedding_stage.py, 2 CPUs, sentence-window texts of
# the bundled articles, Ray already started): once started, 2 actors embed about as fast as the
# calling process on the same machine (MiniLM 182 against 156 texts/s, mpnet 21.9 against 21.1)
# but take 6-11 s more to start, each loading the model; MiniLM crosses over near 12,000 texts.
# So on one machine the texts go to Ray Data from RAY_DATA_MIN_TEXTS_ONE_MACHINE; where the cluster
# has more CPUs than this process (other nodes), from RAY_DATA_MIN_TEXTS.
RAY_DATA_MIN_TEXTS = 2_000
RAY_DATA_MIN_TEXTS_ONE_MACHINE = 12_000
# Texts per Ray Data batch: many forward passes each, so sentence-transformers' length sorting
# keeps padding small, and enough batches per actor that none waits alone on the last.
ROWS_PER_BATCH = 512


class EmbeddingActor:
    """Ray Data callable class: the embedding model of `settings` (an `EmbeddingSettings` as a
    dict), loaded once per actor with `threads` intra-op threads (0: the CPUs Ray granted it);
    each batch's `text` column gets an `embedding` column of float32 vectors (L2-normalised by
    the model, so cosine similarity is the dot product)."""

    def __init__(self, settings: dict, threads: int = 0) -> None:
        from dream_assets.lib.models.threads import pin_threads

        pin_threads(threads or None)
        self.model = make_embedding(EmbeddingSettings(**settings))

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:  # noqa: D102
        return batch.assign(embedding=list(embed_by_length(self.model, batch["text"].tolist())))


def embed_by_length(model: BaseEmbedding, texts: list[str], show_progress: bool = False) -> np.ndarray:
    """`model`'s embeddings of `texts` (float32, in their order), the texts sent longest first so
    that each forward pass holds texts of similar length and pads little (the model's
    `embed_batch_size` texts per pass)."""
    order = sorted(range(len(texts)), key=lambda position: -len(texts[position]))
    vectors = np.asarray(model.get_text_embedding_batch([texts[i] for i in order], show_progress=show_progress))
    result = np.empty_like(vectors, dtype=np.float32)
    result[order] = vectors
    return result


def embed_dataset(
    dataset, settings: EmbeddingSettings, actors: int, num_gpus: float = 0.0, rows_per_batch: int = ROWS_PER_BATCH
):
    """`dataset` (a Ray Dataset with a `text` column) with an `embedding` column, computed by a pool
    of `actors` `EmbeddingActor`s (one CPU and one thread each, or `num_gpus` GPUs each), in
    batches of `rows_per_batch` texts.

    Returns:
        The mapped (lazy) dataset; rows keep their other columns.
    """
    import ray

    return dataset.map_batches(
        EmbeddingActor,
        fn_constructor_kwargs={"settings": settings.model_dump(), "threads": 1 if not num_gpus else 0},
        # one batch at a time per actor: blocks spread over every actor (and node) instead of
        # queueing on the first actor ready
        compute=ray.data.ActorPoolStrategy(size=max(1, actors), max_tasks_in_flight_per_actor=1),
        batch_size=rows_per_batch,
        batch_format="pandas",
        num_gpus=num_gpus or None,
        num_cpus=None if num_gpus else 1,
    )


def cluster_actors(limit: int = 8) -> int:
    """Embedding actors for the connected Ray cluster: one per CPU it has (at least 1, at most
    `limit`)."""
    import ray

    return max(1, min(limit, int(ray.cluster_resources().get("CPU", 1))))


def _on_ray_data(count: int, ray_connect: Callable[[], object]) -> bool:
    """Whether `count` texts are embedded on the cluster (connected here) rather than in this
    process: `RAY_DATA_MIN_TEXTS` or more where the cluster has CPUs beyond this process's,
    `RAY_DATA_MIN_TEXTS_ONE_MACHINE` or more where it does not."""
    if count < RAY_DATA_MIN_TEXTS:
        return False
    import ray

    from dream_assets.lib.models.threads import granted_cpus

    ray_connect()
    if ray.cluster_resources().get("CPU", 0) > granted_cpus():
        return True
    return count >= RAY_DATA_MIN_TEXTS_ONE_MACHINE


def embed_texts(
    texts: list[str],
    settings: EmbeddingSettings | None,
    ray_connect: Callable[[], object] | None = None,
    model: BaseEmbedding | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """The embeddings of `texts`, float32 of shape (texts, dimensions), in their order.

    Args:
        texts: what to embed.
        settings: the embedding model (None when `model` is given: then always in this process).
        ray_connect: connects to the Ray cluster (a `RayCluster` resource's `connect`): with
            it, enough texts are embedded there (`embed_dataset`, one actor per CPU; see
            `_on_ray_data`); otherwise, and always without it, in this process with its threads
            pinned to the CPUs it holds.
        model: the model of `settings`, already loaded in this process (else loaded here when
            the texts are embedded here).
        show_progress: draw LlamaIndex's progress bar (in-process path) on stderr.
    """
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    if ray_connect is not None and settings is not None and model is None and _on_ray_data(len(texts), ray_connect):
        import ray

        actors = cluster_actors()
        # the blocks are cut before the actors start, in their own execution: the actors may hold
        # every CPU, and a repartition task waiting for one would stall the pipeline
        blocks = max(actors, -(-len(texts) // ROWS_PER_BATCH))
        frame = pd.DataFrame({"position": np.arange(len(texts)), "text": texts})
        dataset = ray.data.from_pandas(frame).repartition(blocks).materialize()
        embedded = embed_dataset(dataset, settings, actors, rows_per_batch=-(-len(texts) // blocks))
        frame = embedded.to_pandas().sort_values("position")
        return np.stack(frame["embedding"].to_numpy()).astype(np.float32)
    from dream_assets.lib.models.threads import pin_threads

    pin_threads()
    if model is None:
        if settings is None:
            raise ValueError("embed_texts needs the embedding model's settings or the model")
        model = make_embedding(settings)
    return embed_by_length(model, texts, show_progress)
