"""Ray retrieval actors: N named actors that each hold one replica of an embedding index and
answer batched queries from any number of Ray workers (the design of the Ray integration of
HuggingFace RAG fine-tuning, which moved retrieval off rank 0 into named actors).

`start_pool` starts the actors (detached or not) under names `<pool name>-<i>` in the Ray
namespace `POOL_NAMESPACE`; `connect_pool` finds them by name from any job or task on the same
cluster; `RetrievalPool.retrieve` sends each batch to the next actor, round robin from a random
start, so concurrent clients spread over the replicas. `PoolRetriever` puts a pool behind the
`Retriever` interface that the evaluation trials use. A pool a sweep starts is held by every sweep
that uses it (`PoolLease`) and shut down by the last one.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, cast

from dream_assets.lib.retrieval.index_spec import IndexSpec, load_retriever
from dream_assets.lib.retrieval.retriever import RetrievedContext
from dream_assets.lib.shared_actors import Holders

POOL_NAMESPACE = "dream"
# Seconds one batch of queries may take in an actor (a batch of 256 texts embedded and searched
# takes about a second on one CPU; a batch still out after five minutes means its actor is stuck).
RETRIEVAL_TIMEOUT_S = 300.0
# Seconds the actors of a new pool may take to load their index (a 1M-vector index from S3).
POOL_LOAD_TIMEOUT_S = 1800.0


class PoolLease(Holders):
    """The holders of a retrieval pool that sweeps started (`<pool name>-lease`, 0 CPUs): the
    last sweep to leave it shuts the pool down (`dream_assets.lib.shared_actors`). A pool
    started on its own (the `retrieval_pool` asset) has no lease and is never shut down by a
    sweep."""


class RetrievalActor:
    """One index replica in a Ray actor: loads the index once, answers batches of queries.

    Args:
        spec: the index.
    """

    def __init__(self, spec: IndexSpec) -> None:
        start = time.perf_counter()
        self.retriever = load_retriever(spec, top_k=1)
        self.load_seconds = time.perf_counter() - start
        self.calls = 0
        self.queries = 0

    def retrieve(self, queries: list[str] | list[list[float]], top_k: int) -> list[list[RetrievedContext]]:
        """Top-k contexts of each query, best first.

        Args:
            queries: question texts (embedded here, in one batch) or query embeddings.
            top_k: nodes fetched by similarity per query (before auto-merging).
        """
        self.calls += 1
        self.queries += len(queries)
        return self.retriever.retrieve_batch(queries, top_k)

    def health(self) -> dict:
        """Process id, node id, index load time in seconds, calls and queries served."""
        import ray

        return {
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "load_seconds": round(self.load_seconds, 3),
            "calls": self.calls,
            "queries": self.queries,
        }


@dataclass
class RetrievalPool:
    """Handles of a pool's actors; picklable, so it can be passed to Ray tasks and trials.

    Attributes:
        name: the pool name (actors are `<name>-<i>` in `POOL_NAMESPACE`).
        actors: the actor handles.
    """

    name: str
    actors: list
    _next: int = field(default_factory=lambda: random.randrange(1 << 30))

    def submit(self, queries: list[str] | list[list[float]], top_k: int):
        """Sends one batch to the next actor (round robin); returns the Ray object ref."""
        actor = self.actors[self._next % len(self.actors)]
        self._next += 1
        return actor.retrieve.remote(queries, top_k)

    def retrieve(self, queries: list[str] | list[list[float]], top_k: int) -> list[list[RetrievedContext]]:
        """Top-k contexts of each query (see `RetrievalActor.retrieve`), waiting for them.

        Raises:
            ray.exceptions.GetTimeoutError: after `RETRIEVAL_TIMEOUT_S` seconds.
        """
        import ray

        return ray.get(self.submit(queries, top_k), timeout=RETRIEVAL_TIMEOUT_S)

    def health(self, timeout_s: float = 30.0) -> list[dict]:
        """`RetrievalActor.health` of every actor, with its name; an actor that does not answer
        in `timeout_s` seconds is reported with `error`."""
        import ray

        report = []
        for index, actor in enumerate(self.actors):
            try:
                health: dict = ray.get(actor.health.remote(), timeout=timeout_s)
                report.append({"actor": f"{self.name}-{index}", **health})
            except Exception as error:  # noqa: BLE001 - a dead actor is reported, not raised
                report.append({"actor": f"{self.name}-{index}", "error": f"{type(error).__name__}: {error}"})
        return report

    def shutdown(self) -> None:
        """Kills the pool's actors (detached ones too)."""
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)


def start_pool(name: str, spec: IndexSpec, actors: int, detached: bool = False, num_cpus: float = 0.0) -> RetrievalPool:
    """Starts (or joins, when they exist) `actors` retrieval actors for one index and waits
    until each has loaded it.

    Args:
        name: pool name; other jobs find the pool with `connect_pool(name)`.
        spec: the index.
        actors: number of replicas.
        detached: keep the actors alive after this driver exits (until `shutdown`); on the
            embedded local Ray they still end with the process that started Ray.
        num_cpus: CPUs reserved per actor (0: the actors share the node with trials; on a
            cluster reserve a CPU so retrieval keeps up under load).

    Raises:
        ValueError: if `actors` < 1.
        ray.exceptions.RayActorError: if an actor cannot load the index.
        ray.exceptions.GetTimeoutError: if they have not loaded it in `POOL_LOAD_TIMEOUT_S`.
    """
    import ray

    if actors < 1:
        raise ValueError(f"a retrieval pool needs at least one actor, got {actors}")
    remote: Any = ray.remote(RetrievalActor)
    handles = [
        remote.options(
            name=f"{name}-{index}",
            namespace=POOL_NAMESPACE,
            lifetime="detached" if detached else None,
            get_if_exists=True,
            num_cpus=num_cpus,
            max_concurrency=1,
        ).remote(spec)
        for index in range(actors)
    ]
    pool = RetrievalPool(name, handles)
    ray.get([actor.health.remote() for actor in handles], timeout=POOL_LOAD_TIMEOUT_S)
    return pool


def connect_pool(name: str) -> RetrievalPool | None:
    """The running pool called `name` (its actors, by name), or None when there is none."""
    import ray
    from ray.util import list_named_actors

    indices = []
    for entry in list_named_actors(all_namespaces=True):
        entry = cast(dict, entry)  # with all_namespaces: {"name", "namespace"}
        prefix, _, index = entry["name"].rpartition("-")
        if entry["namespace"] == POOL_NAMESPACE and prefix == name and index.isdigit():
            indices.append(int(index))
    if not indices:
        return None
    return RetrievalPool(name, [ray.get_actor(f"{name}-{i}", namespace=POOL_NAMESPACE) for i in sorted(indices)])


def pool_lease(name: str, create: bool):
    """A handle to the lease actor of pool `name` (`PoolLease`): created when missing with
    `create`, else None when there is none."""
    import ray

    if not create:
        try:
            return ray.get_actor(f"{name}-lease", namespace=POOL_NAMESPACE)
        except ValueError:
            return None
    remote: Any = ray.remote(num_cpus=0)(PoolLease)
    return remote.options(name=f"{name}-lease", namespace=POOL_NAMESPACE, get_if_exists=True).remote()


def pool_name(index_key: str, version: str) -> str:
    """The pool name of one version of one embedding index."""
    return f"retrieval-{index_key}-{version}"


class PoolRetriever:
    """`Retriever`'s interface (`retrieve`, `last_latency_s`) over a pool, for one top-k."""

    def __init__(self, pool: RetrievalPool, top_k: int) -> None:
        self.pool, self.top_k, self.last_latency_s = pool, top_k, 0.0

    def retrieve(self, question: str) -> list[RetrievedContext]:
        """Contexts of one question, best first; sets `last_latency_s` (seconds, round trip)."""
        start = time.perf_counter()
        (contexts,) = self.pool.retrieve([question], self.top_k)
        self.last_latency_s = time.perf_counter() - start
        return contexts

    def retrieve_batch(
        self, queries: list[str], top_k: int, embeddings: list[list[float]] | None = None, batch_size: int = 256
    ) -> list[list[RetrievedContext]]:
        """Contexts of each query, best first: the embeddings when given (the pool's actors
        embed texts otherwise), in batches of `batch_size` spread over the actors, each awaited
        at most `RETRIEVAL_TIMEOUT_S` seconds."""
        import ray

        sent = embeddings if embeddings is not None else queries
        refs = [self.pool.submit(sent[i : i + batch_size], top_k) for i in range(0, len(sent), batch_size)]
        return [contexts for ref in refs for contexts in ray.get(ref, timeout=RETRIEVAL_TIMEOUT_S)]
