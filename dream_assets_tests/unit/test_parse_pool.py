"""The parse pool bounds each document in time and memory, and one document's end never stops
the others: the limits are the OS's (`RLIMIT_AS`) and the pool's (a killed worker)."""

import os
import signal
import time

from dream_assets.lib.documents.parse_pool import ParseLimits, ParseOutcome, ParseTask, parse_bounded
from dream_assets_tests.hostile_pdfs import text_pdf


def misbehave(task: ParseTask) -> ParseOutcome:
    """A worker task that does what its document id says (imported by name in the worker)."""
    document_id, data = task.document_id, task.data
    if document_id == "hang":
        time.sleep(600)
    if document_id == "allocate":
        bytearray(8 * 1024**3)  # past the address-space limit
    if document_id == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if document_id == "raise":
        raise RuntimeError("a bug in the parser")
    return ParseOutcome(document_id, None, "fine", data.decode(), 0.0)


def test_each_document_ends_with_its_reason_and_the_rest_go_on():
    limits = ParseLimits(timeout_seconds=3, memory_bytes=1024**3, workers=2)
    ids = ["hang", "ok-1", "allocate", "die", "raise", "ok-2"]
    started = time.perf_counter()
    outcomes = {o.document_id: o for o in parse_bounded((ParseTask(i, i.encode(), "") for i in ids), limits, misbehave)}
    elapsed = time.perf_counter() - started
    assert sorted(outcomes) == sorted(ids)
    assert outcomes["hang"].reason == "timeout" and "3 s" in outcomes["hang"].detail
    assert outcomes["allocate"].reason == "memory_limit"
    assert outcomes["die"].reason == "worker_died" and "SIGKILL" in outcomes["die"].detail
    assert outcomes["raise"].reason == "parse_error" and "RuntimeError: a bug" in outcomes["raise"].detail
    assert [outcomes[i].detail for i in ("ok-1", "ok-2")] == ["ok-1", "ok-2"]
    assert elapsed < 60  # the hung document did not hold the pool for its 600 s


def test_real_parses_report_pages_and_seconds():
    limits = ParseLimits(timeout_seconds=30, workers=1)
    outcomes = list(parse_bounded([ParseTask("doc", text_pdf("Hello from a bounded worker"), "abc")], limits))
    assert len(outcomes) == 1 and outcomes[0].document is not None
    assert outcomes[0].document.text == "Hello from a bounded worker"
    assert outcomes[0].pages == 1 and 0 < outcomes[0].seconds < 30
