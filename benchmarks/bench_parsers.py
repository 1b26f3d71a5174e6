"""Parsers on hard documents: the bundled SQuAD articles as they are and re-rendered as scans,
two-column pages, paragraphs in tables, DOCX and HTML (`dream_assets_tests.hard_documents`),
each parsed by each parser; the same human questions asked of every copy.

Per copy and parser it prints: documents read, the share of reference contexts aligned into the
parser's text (exactly, fuzzily), hit rate@4 and MRR of one fixed configuration (sentence
window 2, all-MiniLM-L6-v2, top 4, vector retrieval) with the difference to the clean original
read by pypdf and its paired randomisation test's p-value (per question, missed contexts counting
as misses), and parse seconds per page. The golden set is built once, on pypdf's text of the
original PDFs; each copy's parse gets it aligned (`dream_assets.lib.golden.alignment`).

Usage: python benchmarks/bench_parsers.py [--articles 6] [--copies scan,two_column,...]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
PARSERS_BY_COPY = {
    "original": ["pypdf", "pdfium", "layout", "ocr"],
    "scan": ["pypdf", "ocr"],
    "two_column": ["pypdf", "pdfium", "layout"],
    "tables": ["pypdf", "pdfium", "layout"],
    "docx": ["markitdown"],
    "html": ["markitdown"],
}


def parse_folder(folder: Path, parser: str) -> tuple[dict, float, int, list[str]]:
    """(parsed documents by id, seconds, pages, quarantined ids) of every file in `folder`."""
    from dream_assets.hashing import slugify
    from dream_assets.lib.documents.parsing import parse_document
    from dream_assets.plugins.parsers import DocumentParseError

    documents, quarantined, seconds, pages = {}, [], 0.0, 0
    for path in sorted(folder.iterdir()):
        document_id = slugify(path.stem)
        started = time.perf_counter()
        try:
            # DOCX and HTML go to the shared converter whatever the parser: pypdf stands for it
            document = parse_document(
                "pypdf" if parser == "markitdown" else parser, document_id, path.read_bytes(), path.name
            )
        except DocumentParseError as error:
            quarantined.append(f"{document_id}: {error.reason}")
            continue
        finally:
            seconds += time.perf_counter() - started
        documents[document_id] = document
        pages += len(document.page_starts)
    return documents, seconds, pages, quarantined


def retrieval(documents: dict, questions, contexts, embedding, work: Path):
    """Per-question hit rate and MRR of window 2 + MiniLM, top 4, on these documents."""
    from dream_assets.lib.evaluation.tiers import retrieve_questions
    from dream_assets.lib.retrieval.index_spec import IndexSpec, load_retriever
    from dream_assets.lib.retrieval.indexes import ensure_index
    from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
    from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings

    settings = ObjectStoreSettings(root=str(work / "store"))
    method = SentenceWindowMethod(window_size=2)
    pointer = ensure_index(
        ObjectStoreClient(settings), list(documents.values()), "window2_minilm-l6", method, embedding
    )
    spec = IndexSpec(
        method=method,
        embedding=embedding,
        object_store=settings,
        index_prefix=pointer["prefix"],
        scratch_dir=str(work / "scratch"),
    )
    table = retrieve_questions(questions, contexts, load_retriever(spec, 4))
    return table.set_index("question_id")[["hit_rate", "mrr"]]


def main() -> None:
    from dream_assets.lib.evaluation.statistics import paired_p_value
    from dream_assets.lib.golden.alignment import align_contexts, alignment_counts
    from dream_assets.lib.golden.squad import read_squad, squad_golden_dataset
    from dream_assets.lib.models.bundled import bundled_model_path
    from dream_assets.lib.models.embeddings import EmbeddingSettings
    from dream_assets_tests.hard_documents import PDFS, SQUAD, articles, build

    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=6)
    parser.add_argument("--copies", default=",".join(PARSERS_BY_COPY))
    args = parser.parse_args()
    copies = args.copies.split(",")
    names = list(articles(args.articles))
    models = Path(os.environ.get("DREAM_HOME", ROOT / ".dream")) / "models"
    model = bundled_model_path("all-MiniLM-L6-v2", models)
    embedding = EmbeddingSettings(name="all-MiniLM-L6-v2", model=str(model))
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        original = work / "original"
        original.mkdir()
        for name in names:
            (original / name).write_bytes((PDFS / name).read_bytes())
        folders = {"original": original, **build(work, args.articles, tuple(c for c in copies if c != "original"))}
        clean, _, _, _ = parse_folder(original, "pypdf")
        golden = squad_golden_dataset(read_squad(str(SQUAD)), clean)
        questions = golden.questions
        print(f"{len(names)} articles, {len(questions)} human questions, {len(golden.contexts)} reference contexts")
        baseline = retrieval(clean, questions, golden.contexts, embedding, work / "baseline")
        columns = ("copy", "parser", "docs", "aligned", "hit@4", "MRR", "ΔMRR", "p", "s/page")
        print(" ".join(f"{name:<{width}}" for name, width in zip(columns, (11, 10, 4, 15, 6, 6, 7, 7, 7), strict=True)))
        for copy in copies:
            pypdf_scores = None
            for name in PARSERS_BY_COPY[copy]:
                documents, seconds, pages, quarantined = parse_folder(folders[copy], name)
                if not documents:
                    reasons = ", ".join(sorted({entry.split(": ")[1] for entry in quarantined}))
                    print(f"{copy:<11} {name:<10} {0:>4}   (quarantined: {reasons})")
                    continue
                aligned = align_contexts(golden.contexts, documents)
                counts = alignment_counts(aligned)
                scores = retrieval(documents, questions, aligned, embedding, work / f"{copy}-{name}")
                if name == "pypdf":
                    pypdf_scores = scores
                delta = scores["mrr"].mean() - baseline["mrr"].mean()
                versus = pypdf_scores if pypdf_scores is not None and name != "pypdf" else baseline
                p = paired_p_value(scores["mrr"], versus.loc[scores.index, "mrr"])
                share = f"{(counts['exact'] + counts['fuzzy']) / len(aligned):.0%} ({counts['fuzzy']} fz)"
                print(
                    f"{copy:<11} {name:<10} {len(documents):>4} {share:>15} {scores['hit_rate'].mean():>6.3f}"
                    f" {scores['mrr'].mean():>6.3f} {delta:>+7.3f} {p:>7.3f} {seconds / max(pages, 1):>7.2f}"
                )
        print(
            "ΔMRR: against the clean original read by pypdf; p: paired test against pypdf on the same copy"
            " (against the clean original for pypdf itself and single-parser copies)"
        )


if __name__ == "__main__":
    main()
