"""Where embedding on Ray Data actors starts to beat the calling process (`RAY_DATA_MIN_TEXTS`).

The same texts (sentence-window nodes of the bundled articles, the demo's shortest and most
numerous) are embedded two ways by `embed_texts`: in this process with its threads pinned to
its CPUs, and on a local Ray of every CPU through `embed_dataset` (one actor per CPU, each
loading the model; Ray started beforehand, as the sweep's cluster is). Prints seconds and
texts/s of each at every size, and the ratio.

Usage: python benchmarks/bench_embedding_stage.py [--sizes 250 1000 2000 4000] [--models all-MiniLM-L6-v2]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
PDFS = ROOT / "data" / "demo" / "squad" / "pdfs"


def main() -> None:
    """Prints one row per (model, size)."""
    import ray

    from dream_assets.hashing import slugify
    from dream_assets.lib.documents.parsing import parse_document
    from dream_assets.lib.models import embedding_stage
    from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
    from dream_assets.lib.retrieval.nodes import build_nodes
    from resources.embeddings import EmbeddingProvider

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[250, 1000, 2000, 4000])
    parser.add_argument("--models", nargs="+", default=["all-MiniLM-L6-v2", "all-mpnet-base-v2"])
    args = parser.parse_args()
    articles = [parse_document("pypdf", slugify(p.stem), p.read_bytes(), p.name) for p in sorted(PDFS.glob("*.pdf"))]
    _, embedded = build_nodes(articles, SentenceWindowMethod(window_size=2))
    texts = [node.get_content() for node in embedded]
    provider = EmbeddingProvider(models_dir=str(Path(os.environ.get("DREAM_HOME", ROOT / ".dream")) / "models"))
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    embedding_stage.RAY_DATA_MIN_TEXTS = embedding_stage.RAY_DATA_MIN_TEXTS_ONE_MACHINE = 0  # Ray at every size
    print(f"{len(texts)} sentence-window texts available, {os.cpu_count()} CPUs")
    columns = f"{'process s':>9} {'texts/s':>8} {'Ray Data s':>10} {'texts/s':>8} {'Ray speed-up':>12}"
    print(f"{'model':22} {'texts':>6} {columns}")
    for model in args.models:
        settings = provider.settings_for(model)
        for size in args.sizes:
            sample = (texts * (1 + size // len(texts)))[:size]
            started = time.perf_counter()
            embedding_stage.embed_texts(sample, settings)  # the model loaded here, as a shard build does
            process_s = time.perf_counter() - started
            started = time.perf_counter()
            embedding_stage.embed_texts(sample, settings, ray_connect=lambda: None)
            ray_s = time.perf_counter() - started
            print(
                f"{model:22} {size:6d} {process_s:9.1f} {size / process_s:8.1f} {ray_s:10.1f} {size / ray_s:8.1f} "
                f"{process_s / ray_s:12.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
