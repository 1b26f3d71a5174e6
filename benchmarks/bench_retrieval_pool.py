"""Seconds per retrieval call (a batch of 8 SQuAD questions, top-4, chunks of 256 tokens with
all-MiniLM-L6-v2 over the demo PDFs) with 1, 2 and 4 concurrent clients, against a single
retriever that every client goes through (one process, clients queue on a lock: the
torch.distributed rank-0 design) and against Ray retrieval pools of 1, 2 and 4 actors (clients
are Ray tasks that find the pool by name). Printed in the shape of the Ray RAG integration's
published table. Goal: 4 actors at 4 clients take at most 0.4x the single retriever's time.

Usage: python benchmarks/bench_retrieval_pool.py [--documents N] [--calls N]
"""

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = (1, 2, 4)
ACTORS = (1, 2, 4)
BATCH = 8
TOP_K = 4


def _batches(documents: list[str], calls: int) -> list[list[str]]:
    from dream_assets.defs.golden.assets import DEMO_SQUAD
    from dream_assets.hashing import slugify

    squad = json.loads(DEMO_SQUAD.read_text())
    questions = [
        qa["question"]
        for article in squad["data"]
        if slugify(article["title"]) in documents
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    return [questions[(i * BATCH) % (len(questions) - BATCH) :][:BATCH] for i in range(calls * max(CLIENTS))]


def single_retriever(retriever, batches: list[list[str]], clients: int, calls: int) -> float:
    """Mean seconds per call when `clients` threads share one retriever behind a lock."""
    lock = threading.Lock()
    times: list[float] = []

    def client(index: int) -> None:
        for call in range(calls):
            start = time.perf_counter()
            with lock:
                retriever.retrieve_batch(batches[index * calls + call], TOP_K)
            times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(times) / len(times)


def pool_clients(name: str, batches: list[list[str]], clients: int, calls: int) -> float:
    """Mean seconds per call of `clients` Ray tasks each making `calls` calls on pool `name`."""
    import ray

    from dream_assets.lib.retrieval.pool import connect_pool

    @ray.remote(num_cpus=0)
    def client(mine: list[list[str]]) -> list[float]:
        pool = connect_pool(name)
        pool.retrieve(mine[0], TOP_K)  # connect and warm up outside the timing
        times = []
        for batch in mine:
            start = time.perf_counter()
            pool.retrieve(batch, TOP_K)
            times.append(time.perf_counter() - start)
        return times

    parts = [batches[index * calls : (index + 1) * calls] for index in range(clients)]
    times = [t for result in ray.get([client.remote(part) for part in parts]) for t in result]
    return sum(times) / len(times)


def main() -> None:
    """Prints the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=6, help="demo PDFs indexed")
    parser.add_argument("--calls", type=int, default=20, help="calls per client")
    args = parser.parse_args()

    import ray

    from dream_assets.hashing import slugify
    from dream_assets.lib.documents.pypdf_parser import parse_pdf
    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.retrieval.index_spec import IndexSpec
    from dream_assets.lib.retrieval.indexes import build_index
    from dream_assets.lib.retrieval.methods.chunks import ChunksMethod
    from dream_assets.lib.retrieval.pool import start_pool
    from dream_assets.lib.retrieval.retriever import Retriever
    from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings
    from resources.embeddings import EmbeddingProvider
    from resources.ray_cluster import WORKER_ENV

    pdfs = sorted((ROOT / "data" / "demo" / "squad" / "pdfs").glob("*.pdf"))[: args.documents]
    documents = [parse_pdf(slugify(path.stem), path.read_bytes()) for path in pdfs]
    models_dir = str(Path(os.environ.get("DREAM_HOME", ROOT / ".dream")) / "models")
    settings = EmbeddingProvider(models_dir=models_dir).settings_for("all-MiniLM-L6-v2")
    method = ChunksMethod(chunk_size=256, chunk_overlap=32)
    work = Path(tempfile.mkdtemp(prefix="bench-pool-"))
    embed_model = make_embedding(settings)
    nodes, _ = build_index(documents, method, embed_model, work / "index")
    store = ObjectStoreSettings(root=str(work / "store"))
    ObjectStoreClient(store).upload_dir(work / "index", "index")
    spec = IndexSpec(method=method, embedding=settings, object_store=store, index_prefix="index", scratch_dir=str(work))
    batches = _batches([d.document_id for d in documents], args.calls)
    print(f"index: {nodes} nodes of {len(documents)} documents; batch {BATCH}, top-{TOP_K}, {args.calls} calls/client")

    rows = {}
    retriever = Retriever(work / "index", method, embed_model, TOP_K)
    single_retriever(retriever, batches, 1, 2)  # warm-up
    rows["single retriever (one process)"] = [single_retriever(retriever, batches, n, args.calls) for n in CLIENTS]
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": WORKER_ENV})  # fmt: skip
    try:
        for actors in ACTORS:
            pool = start_pool(f"bench-{actors}", spec, actors)
            rows[f"Ray, {actors} retrieval actor(s)"] = [
                pool_clients(f"bench-{actors}", batches, n, args.calls) for n in CLIENTS
            ]
            pool.shutdown()
    finally:
        ray.shutdown()
    header = "".join(f"{f'{n} client(s)':>14s}" for n in CLIENTS)
    print(f"seconds per retrieval call ({os.cpu_count()} CPUs)\n{'':34s}{header}")
    for label, values in rows.items():
        print(f"{label:34s}" + "".join(f"{value:14.4f}" for value in values))
    ratio = rows["Ray, 4 retrieval actor(s)"][-1] / rows["single retriever (one process)"][-1]
    print(f"4 actors / single retriever at {CLIENTS[-1]} clients: {ratio:.2f} (goal <= 0.4)")


if __name__ == "__main__":
    main()
