"""The demo's first index build, and what adding one document costs.

Builds the indexes of a search space (default: `config/search_space.yaml`'s, six on the demo)
over the bundled articles as `embedding_index` does (`ensure_index`: per-document shards, Ray
Data actors on a local Ray of every CPU from `RAY_DATA_MIN_TEXTS_ONE_MACHINE` texts, LanceDB tables), with
each embedding model on the backends asked for (`--backends torch onnx-int8`). The corpus is
first built without its last article, then the last one is added: the added document's nodes
embedded and its seconds against the first build's. Prints one row per index and a total per
backend.

Usage: python benchmarks/bench_index_build.py [--backends torch onnx-int8] [--documents 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
PDFS = ROOT / "data" / "demo" / "squad" / "pdfs"


def main() -> None:
    """Prints one row per (index, backend) and each backend's totals."""
    import ray

    from dream_assets.hashing import slugify
    from dream_assets.lib.documents.parsing import parse_document
    from dream_assets.lib.retrieval.indexes import ensure_index
    from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings
    from dream_assets.search_space import load_search_space
    from resources.embeddings import EmbeddingProvider

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx-int8"])
    parser.add_argument("--documents", type=int, default=16, help="articles, the last one added after the build")
    parser.add_argument("--search-space", default=str(ROOT / "config" / "search_space.yaml"))
    args = parser.parse_args()
    paths = sorted(PDFS.glob("*.pdf"))[: args.documents]
    articles = [parse_document("pypdf", slugify(path.stem), path.read_bytes(), path.name) for path in paths]
    space = load_search_space(args.search_space)
    provider = EmbeddingProvider(models_dir=str(Path(os.environ.get("DREAM_HOME", ROOT / ".dream")) / "models"))
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    print(f"{len(articles)} articles (the last added after the first build), {os.cpu_count()} CPUs")
    columns = f"{'nodes':>6} {'first s':>8} {'nodes/s':>8} {'added':>6} {'add s':>6} {'add/first':>9}"
    print(f"{'index':32} {'backend':10} {columns}")
    for backend in args.backends:
        totals = [0.0, 0.0]
        with tempfile.TemporaryDirectory() as directory:
            store = ObjectStoreClient(ObjectStoreSettings(root=directory))
            for index_key, (method, model, _) in space.index_settings.items():
                embedding = provider.settings_for(model if backend == "torch" else f"{model}@{backend}")
                started = time.perf_counter()
                first = ensure_index(store, articles[:-1], index_key, method, embedding, ray_connect=lambda: None)
                first_s = time.perf_counter() - started
                started = time.perf_counter()
                added = ensure_index(store, articles, index_key, method, embedding, ray_connect=lambda: None)
                add_s = time.perf_counter() - started
                totals[0] += first_s
                totals[1] += add_s
                print(
                    f"{index_key:32} {backend:10} {first['embedded']:6d} {first_s:8.1f} "
                    f"{first['embedded'] / first_s:8.1f} {added['embedded']:6d} {add_s:6.1f} {add_s / first_s:9.3f}",
                    flush=True,
                )
        print(f"{'all indexes':32} {backend:10} {'':6} {totals[0]:8.1f} {'':8} {'':6} {totals[1]:6.1f} "
              f"{totals[1] / totals[0]:9.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
