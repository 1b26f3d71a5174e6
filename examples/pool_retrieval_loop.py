"""A training-style loop that retrieves through a Ray retrieval pool (run after `make demo`).

Each of `--workers` Ray tasks stands for a training worker: at every step it sends a batch of 8
questions to the pool, which one of the actors answers (the retrieval step of RAG fine-tuning in
the Ray integration of HuggingFace RAG). Inside a Ray Train `train_loop_per_worker` the body of
`worker` is the same: `connect_pool(name)` once, then `pool.retrieve(batch, top_k)` per step.

Usage: python examples/pool_retrieval_loop.py [--index chunks256o32_minilm-l6] [--actors 2]
       [--workers 2] [--steps 5]
"""

import argparse
import json
import os
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def worker(pool_name: str, questions: list[str], steps: int, rank: int) -> list[str]:
    """One training worker: `steps` retrieval calls of 8 questions; returns one line per step."""
    from dream_assets.lib.retrieval.pool import connect_pool

    pool = connect_pool(pool_name)
    lines = []
    for step in range(steps):
        batch = questions[(rank * steps + step) * 8 :][:8]
        start = time.perf_counter()
        results = pool.retrieve(batch, top_k=4)
        seconds = time.perf_counter() - start
        first = results[0][0].node_id
        lines.append(f"worker {rank} step {step}: {len(results)} x top-4 in {seconds:.3f} s; first: {first}")
    return lines


def main() -> None:
    """Starts a pool over the demo's index and runs the workers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", default="chunks256o32_minilm-l6", help="embedding index partition key")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    import ray

    from dream_assets.corpus import current_corpus
    from dream_assets.defs.golden.assets import DEMO_SQUAD
    from dream_assets.defs.workers import WorkerSettings
    from dream_assets.deployments import deployment, resources_for
    from dream_assets.lib.retrieval.pool import pool_name, start_pool
    from dream_assets.search_space import load_search_space

    resources = resources_for(deployment())
    store = resources["object_store"].client()
    roles = ("object_store", "embeddings", "llms", "vector_store", "ray_cluster")
    workers = WorkerSettings(*(resources[role] for role in roles), load_search_space(), current_corpus(store))
    # the index of the corpus `dream run` last ran on; FileNotFoundError: run make demo first
    pointer = workers.index_pointer(args.index)
    spec = workers.index(args.index, pointer)
    squad = json.loads(DEMO_SQUAD.read_text())
    questions = [qa["question"] for a in squad["data"] for p in a["paragraphs"] for qa in p["qas"]]
    resources["ray_cluster"].connect()
    name = pool_name(args.index, pointer["version"])
    pool = start_pool(name, spec, args.actors)
    try:
        task = ray.remote(num_cpus=0)(worker)
        outputs = ray.get([task.remote(name, questions, args.steps, rank) for rank in range(args.workers)])
        for lines in outputs:
            print("\n".join(lines))
        for actor in pool.health():
            print(actor)
    finally:
        pool.shutdown()


if __name__ == "__main__":
    main()
