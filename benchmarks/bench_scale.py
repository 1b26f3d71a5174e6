"""Indexes at scale: the 16 bundled articles plus distractor documents, up to about 100,000 nodes.

Distractors are real text the project can install: the Python 3.11 documentation's HTML pages
(Debian's `python3.11-doc`, 530 pages, about 57,000 sentence nodes; installed here with apt-get
when missing and run as root), read by DREAM's own converter, then entries of the GNU
Collaborative International Dictionary of English (Debian's `dict-gcide`), 400 entries a plain-text
document. The configuration is fixed: sentence window 2 + all-MiniLM-L6-v2 (torch), top 4; the
bundled SQuAD questions of the 16 articles are asked at every size.

For each size (target node counts, `--nodes`), on a fresh object store, it prints: documents and
nodes; the first build's embedding seconds and nodes/s (shards embedded on Ray Data actors, one
per CPU, from `RAY_DATA_MIN_TEXTS_ONE_MACHINE` texts on one machine) against a plain in-process
encode of the same backend on a sample; bytes on disk per vector against raw float32; a trial's
peak RSS (VmHWM of a fresh process that opens the index and retrieves every question); retrieval
ms per query, p50, exact and, where the index has one, ANN, with ANN recall@10 against exact on
the questions; the questions' MRR (distractors make it fall); and the cost of adding one
document (seconds, nodes embedded).

Usage: python benchmarks/bench_scale.py [--nodes 0,10000,100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
PDFS = ROOT / "data" / "demo" / "squad" / "pdfs"
SQUAD = ROOT / "data" / "demo" / "squad" / "dev-v2.0.json"
PYTHON_DOCS = Path("/usr/share/doc/python3.11/html")
INDEX_KEY = "window2_minilm-l6"


def python_docs() -> list[Path]:
    """The HTML pages of Debian's python3.11-doc, installed first when missing (as root)."""
    if not PYTHON_DOCS.is_dir() and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "python3.11-doc"], check=True)
    if not PYTHON_DOCS.is_dir():
        raise SystemExit("distractors need Debian's python3.11-doc: apt-get install python3.11-doc")
    return sorted(path for path in PYTHON_DOCS.rglob("*.html") if "_static" not in path.parts)


def distractor_texts():
    """(name, bytes) of distractor documents: the Python docs' pages, then GCIDE's entries."""
    from dream_assets.ingest_demo import GCIDE, gcide_entries

    for page in python_docs():
        yield page.name, page.read_bytes()
    if not GCIDE.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "dict-gcide"], check=True)
    entries = [text for _, text in gcide_entries(10**6)]
    for start in range(0, len(entries), 400):
        yield f"gcide-{start // 400}.txt", "\n\n".join(entries[start : start + 400]).encode()


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM): unlike getrusage's maxrss, not inherited from the
    parent that spawned it."""
    with open("/proc/self/status", encoding="ascii") as status:
        [line] = [line for line in status if line.startswith("VmHWM:")]
    return int(line.split()[1]) / 1024


def _du(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def _trial(prefix: str, root: str, scratch: str, method, embedding, questions, contexts, embeddings) -> dict:
    """In a fresh process: open the index as a trial does, retrieve every question; peak RSS,
    per-query latency and the scores."""
    import numpy as np

    from dream_assets.lib.evaluation.tiers import retrieve_questions
    from dream_assets.lib.retrieval.index_spec import IndexSpec, load_retriever
    from dream_assets.lib.stores.object_store import ObjectStoreSettings

    spec = IndexSpec(
        method=method,
        embedding=embedding,
        object_store=ObjectStoreSettings(root=root),
        index_prefix=prefix,
        scratch_dir=scratch,
    )
    retriever = load_retriever(spec, 4)
    vectors = [embeddings[question] for question in questions["question_id"]]
    latencies = []
    for vector in vectors[:200]:
        started = time.perf_counter()
        retriever.retrieve_batch([vector], 4)
        latencies.append(time.perf_counter() - started)
    table = retrieve_questions(questions, contexts, retriever, embeddings)
    return {
        "p50_ms": 1000 * float(np.median(latencies)),
        "mrr": float(table["mrr"].mean()),
        "rss_mb": _peak_rss_mb(),
    }


def main() -> None:
    import numpy as np
    import ray

    from dream_assets.hashing import slugify
    from dream_assets.lib.documents.parsing import parse_document
    from dream_assets.lib.golden.squad import read_squad, squad_golden_dataset
    from dream_assets.lib.models.bundled import bundled_model_path
    from dream_assets.lib.models.embedding_stage import embed_by_length
    from dream_assets.lib.models.embeddings import EmbeddingSettings, make_embedding
    from dream_assets.lib.retrieval.indexes import ensure_index
    from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
    from dream_assets.lib.retrieval.nodes import build_nodes
    from dream_assets.lib.stores.lance_index import ExactVectorSearch, LanceIndex
    from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings
    from dream_assets.plugins.parsers import DocumentParseError

    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="0,10000,100000", help="target node counts (0: the articles alone)")
    args = parser.parse_args()
    targets = [int(value) for value in args.nodes.split(",")]
    method = SentenceWindowMethod(window_size=2)
    models = Path(os.environ.get("DREAM_HOME", ROOT / ".dream")) / "models"
    embedding = EmbeddingSettings(
        name="all-MiniLM-L6-v2", model=str(bundled_model_path("all-MiniLM-L6-v2", models)), batch_size=64
    )
    model = make_embedding(embedding)
    articles = [
        parse_document("pypdf", slugify(path.stem), path.read_bytes(), path.name) for path in sorted(PDFS.glob("*.pdf"))
    ]
    golden = squad_golden_dataset(read_squad(str(SQUAD)), {d.document_id: d for d in articles})
    questions, contexts = golden.questions, golden.contexts
    question_vectors = embed_by_length(model, questions["user_input"].tolist())
    embeddings = dict(zip(questions["question_id"], question_vectors.tolist(), strict=True))
    distractors, pages = [], distractor_texts()
    counted = sum(len(build_nodes([d], method)[0]) for d in articles)
    print(f"{len(articles)} articles ({counted} nodes), {len(questions)} questions; distractors: Python docs, GCIDE")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    header = (
        "nodes",
        "docs",
        "embed s",
        "nodes/s",
        "plain/s",
        "B/vector",
        "×f32",
        "RSS MB",
        "exact ms",
        "ANN ms",
        "recall",
        "MRR",
        "add s",
        "add nodes",
    )
    print(" ".join(f"{name:>9}" for name in header))
    for target in targets:
        while counted < target:
            name, data = next(pages)
            try:
                document = parse_document("pypdf", f"d-{slugify(Path(name).stem)}-{len(distractors)}", data, name)
            except DocumentParseError:
                continue
            distractors.append(document)
            counted += len(build_nodes([document], method)[0])
        corpus = articles + distractors
        with tempfile.TemporaryDirectory() as directory:
            root = str(Path(directory) / "store")
            store = ObjectStoreClient(ObjectStoreSettings(root=root))
            started = time.perf_counter()
            pointer = ensure_index(store, corpus, INDEX_KEY, method, embedding, ray_connect=lambda: None)
            build_s = time.perf_counter() - started
            sample = [node.get_content() for node in build_nodes(corpus[:8], method)[1]][:2000]
            started = time.perf_counter()
            embed_by_length(model, sample)
            plain = len(sample) / (time.perf_counter() - started)
            lance = Path(store.path(pointer["prefix"])) / "lancedb"
            index = LanceIndex(lance, pointer)
            rows, matrix = index.vector_matrix()
            bytes_per_vector = _du(lance / "vectors.lance") / len(rows)
            exact = ExactVectorSearch(rows, matrix)
            exact_ms, exact_top = [], []
            for vector in question_vectors[:200]:
                started = time.perf_counter()
                exact_top.append({row for row, _ in exact.top_k(vector, 10)})
                exact_ms.append(time.perf_counter() - started)
            ann_ms, recall = float("nan"), float("nan")
            if pointer["ann"]:
                found, ann_times = [], []
                for vector in question_vectors[:200]:
                    started = time.perf_counter()
                    [hits] = index.search(np.asarray([vector]), 10)
                    ann_times.append(time.perf_counter() - started)
                    found.append({row for row, _ in hits})
                ann_ms = 1000 * float(np.median(ann_times))
                recall = float(np.mean([len(a & b) / 10 for a, b in zip(found, exact_top, strict=True)]))
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                trial = pool.submit(
                    _trial, pointer["prefix"], root, str(Path(directory) / "scratch"), method, embedding,
                    questions, contexts, embeddings,
                ).result()  # fmt: skip
            name, data = next(pages)
            extra = parse_document("pypdf", f"added-{slugify(Path(name).stem)}", data, name)
            started = time.perf_counter()
            added = ensure_index(store, [*corpus, extra], INDEX_KEY, method, embedding, ray_connect=lambda: None)
            add_s = time.perf_counter() - started
        values = (
            pointer["nodes"], len(corpus), f"{build_s:.0f}", f"{pointer['embedded'] / build_s:.0f}", f"{plain:.0f}",
            f"{bytes_per_vector:.0f}", f"{bytes_per_vector / (4 * matrix.shape[1]):.3f}", f"{trial['rss_mb']:.0f}",
            f"{1000 * float(np.median(exact_ms)):.2f}", f"{ann_ms:.2f}", f"{recall:.3f}", f"{trial['mrr']:.3f}",
            f"{add_s:.1f}", added["embedded"],
        )  # fmt: skip
        print(" ".join(f"{value!s:>9}" for value in values), flush=True)
    print(
        "embed s: first build of the index (splitting, embedding, Lance tables); plain/s: an in-process encode"
        " of the same backend on up to 2,000 nodes; exact ms / ANN ms: p50 per query (200 questions, 10 nodes);"
        " recall: ANN recall@10 against exact on those questions; RSS: a trial's peak; add: one more document"
    )


if __name__ == "__main__":
    main()
