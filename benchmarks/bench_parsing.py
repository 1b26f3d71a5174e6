"""What bounded parsing costs: the 16 demo PDFs and the real-world samples parsed in this
process (`parse_pdf`) and through the bounded pool (`parse_bounded`, 1 and 2 workers), with the
pool's start-up; then the hostile files of the tests, each with its outcome and seconds.

Usage: python benchmarks/bench_parsing.py [--repeat N]
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dream_assets.lib.documents.parse_pool import ParseLimits, parse_bounded  # noqa: E402
from dream_assets.lib.documents.pypdf_parser import parse_pdf  # noqa: E402
from dream_assets.plugins.parsers import DocumentParseError  # noqa: E402
from dream_assets_tests import hostile_pdfs  # noqa: E402


def _corpus() -> list[tuple[str, bytes, str]]:
    folders = [ROOT / "data" / "demo" / "squad" / "pdfs", ROOT / "dream_assets_tests" / "data" / "pdf-samples"]
    return [(path.stem, path.read_bytes(), "") for folder in folders for path in sorted(folder.glob("*.pdf"))]


def _in_process(documents) -> float:
    started = time.perf_counter()
    for document_id, data, sha256 in documents:
        try:
            parse_pdf(document_id, data, sha256)
        except DocumentParseError:
            pass
    return time.perf_counter() - started


def _pooled(documents, workers: int) -> float:
    started = time.perf_counter()
    list(parse_bounded(documents, ParseLimits(workers=workers)))
    return time.perf_counter() - started


def main() -> None:
    """Prints seconds per corpus pass in process and pooled, and each hostile file's outcome."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes per setting; the fastest is printed")
    args = parser.parse_args()
    documents = _corpus()
    megabytes = sum(len(data) for _, data, _ in documents) / 1e6
    print(f"corpus: {len(documents)} PDFs, {megabytes:.1f} MB")
    print(f"in process:        {min(_in_process(documents) for _ in range(args.repeat)):6.2f} s")
    for workers in (1, 2):
        seconds = min(_pooled(documents, workers) for _ in range(args.repeat))
        print(f"pool, {workers} worker(s): {seconds:6.2f} s (worker start-up included)")
    hostile = {
        "flate bomb": hostile_pdfs.flate_bomb(),
        "page-tree cycle": hostile_pdfs.page_tree_cycle(),
        "nested arrays": hostile_pdfs.nested_arrays(),
        "2,000 blank pages": hostile_pdfs.blank_pages(2000),
        "leading junk": hostile_pdfs.leading_junk(hostile_pdfs.text_pdf("Bytes before the header")),
        "empty password": hostile_pdfs.empty_password(hostile_pdfs.text_pdf("Anyone can open this")),
    }
    print("\n| file | bytes | outcome | seconds |\n|---|---|---|---|")
    jobs = [(name, data, "") for name, data in hostile.items()]
    for outcome in sorted(parse_bounded(jobs, ParseLimits(timeout_seconds=20)), key=lambda o: o.document_id):
        result = "parsed" if outcome.document else f"{outcome.reason}: {outcome.detail[:60]}"
        print(f"| {outcome.document_id} | {len(hostile[outcome.document_id]):,} | {result} | {outcome.seconds:.2f} |")


if __name__ == "__main__":
    main()
