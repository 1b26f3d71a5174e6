"""Embedding backends on the same chunks, in one run: chunks/s and retrieval quality of torch fp32,
ONNX fp32 and ONNX int8 (dream_assets/lib/models/onnx_embedding.py), for all-MiniLM-L6-v2 and all-mpnet-base-v2.

Corpus and questions: the first `--documents` documents of the `squad-demo` golden set a
`dream run` left under DREAM_HOME, chunked as `chunks256o32`; each backend builds the index
(`dream_assets.lib.retrieval.nodes.build_index`, the asset's path) and retrieves every golden question of
those documents at k = 4 (`retrieve_questions`): hit rate and MRR with a 95% bootstrap interval.
Export time (first use of a backend, cached afterwards) is printed apart.

Usage: python benchmarks/bench_embeddings.py [--documents 2] [--models all-MiniLM-L6-v2 ...]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from dream_assets import layout  # noqa: E402
from dream_assets.lib.evaluation.statistics import bootstrap_ci  # noqa: E402
from dream_assets.lib.evaluation.tiers import retrieve_questions  # noqa: E402
from dream_assets.lib.models.embeddings import make_embedding  # noqa: E402
from dream_assets.lib.retrieval.indexes import build_index  # noqa: E402
from dream_assets.lib.retrieval.methods.chunks import ChunksMethod  # noqa: E402
from dream_assets.lib.retrieval.retriever import Retriever  # noqa: E402
from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings  # noqa: E402
from dream_assets.plugins.parsers import ParsedDocument  # noqa: E402
from resources.embeddings import EmbeddingProvider  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("DREAM_HOME", ROOT / ".dream"))


def corpus(documents: int):
    """(parsed documents, questions, contexts) of the first `documents` documents of the
    squad-demo golden set."""
    store = ObjectStoreClient(ObjectStoreSettings(root=str(STATE / "object_store")))
    if not store.exists(layout.golden_pointer("squad-demo")):
        raise SystemExit(f"no squad-demo golden set under {STATE}: run `dream run --documents 2` first")
    prefix = store.read_json(layout.golden_pointer("squad-demo"))["prefix"]
    questions = store.read_parquet(f"{prefix}/questions.parquet")
    contexts = store.read_parquet(f"{prefix}/contexts.parquet")
    chosen = sorted(questions["document_id"].unique())[:documents]
    parsed = [ParsedDocument.from_dict(store.read_json(layout.parsed_document_key(d))) for d in chosen]
    return parsed, questions[questions["document_id"].isin(chosen)], contexts[contexts["document_id"].isin(chosen)]


def main() -> None:
    """Prints one row per (model, backend)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["all-MiniLM-L6-v2", "all-mpnet-base-v2"])
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"])
    args = parser.parse_args()
    documents, questions, contexts = corpus(args.documents)
    method = ChunksMethod(chunk_size=256, chunk_overlap=32)
    provider = EmbeddingProvider(models_dir=str(STATE / "models"))
    print(f"{len(documents)} documents, {len(questions)} golden questions, {method.slug}, k 4, {os.cpu_count()} CPUs")
    header = f"{'model':20} {'backend':10} {'export s':>8} {'chunks':>6} {'chunks/s':>8} {'hit rate':>8}"
    print(f"{header} {'MRR [95% CI]':>22}")
    for model in args.models:
        for backend in args.backends:
            name = model if backend == "torch" else f"{model}@{backend}"
            started = time.perf_counter()
            embed_model = make_embedding(provider.settings_for(name))
            loaded = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as directory:
                started = time.perf_counter()
                _, embedded = build_index(documents, method, embed_model, directory)
                seconds = time.perf_counter() - started
                retriever = Retriever(directory, method, embed_model, top_k=4)
                scored = retrieve_questions(questions, contexts, retriever)
            low, high = bootstrap_ci(scored["mrr"])
            print(
                f"{model:20} {backend:10} {loaded:8.1f} {embedded:6d} {embedded / seconds:8.1f} "
                f"{scored['hit_rate'].mean():8.3f} {scored['mrr'].mean():8.3f} [{low:.3f}, {high:.3f}]",
                flush=True,
            )


if __name__ == "__main__":
    main()
