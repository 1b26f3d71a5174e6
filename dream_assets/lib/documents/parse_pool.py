"""Bounded parsing: every document parsed in a worker process with a time and a memory limit.

A document is code-like input: a PDF's page tree can loop, a stream or a ZIP can inflate to
gigabytes, a parser can recurse or spin. `parse_bounded` runs
`dream_assets.lib.documents.parsing.parse_document` in a pebble
`ProcessPool` of spawned workers: the address space of each worker is capped by the OS
(`RLIMIT_AS`) and a parse that outlives its time limit has its worker killed by the pool. Each
document ends as one `ParseOutcome`, parsed or with the reason it was not, whatever it did.
"""

from __future__ import annotations

import multiprocessing
import resource
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from pebble import ProcessExpired, ProcessPool
from pydantic import BaseModel, Field

from dream_assets.lib.documents.parsing import parse_document
from dream_assets.plugins.parsers import DEFAULT_PARSER, DocumentParseError, ParsedDocument


class ParseLimits(BaseModel):
    """Bounds on parsing one document.

    Attributes:
        timeout_seconds: wall-clock seconds one document may take; its worker is killed after.
        memory_bytes: address-space limit of a worker process (`RLIMIT_AS`), interpreter and
            libraries included (about 0.2 GiB of it); an allocation past it fails.
        workers: parse processes run at once.
        tasks_per_worker: documents a worker parses before it is replaced (bounds fragmentation).
    """

    timeout_seconds: float = Field(default=60.0, gt=0)
    memory_bytes: int = Field(default=2 * 1024**3, ge=256 * 1024**2)
    workers: int = Field(default=2, ge=1)
    tasks_per_worker: int = Field(default=50, ge=1)


@dataclass(frozen=True)
class ParseTask:
    """One document to parse: its id, bytes, SHA-256, file name (its suffix says its format)
    and the registered parser to read it with."""

    document_id: str
    data: bytes
    sha256: str
    name: str = "document.pdf"
    parser: str = DEFAULT_PARSER


@dataclass(frozen=True)
class ParseOutcome:
    """What became of one document: `document` when parsed, else `reason` and `detail` (the
    reasons of the parsers, `timeout` or `worker_died`); `seconds` of wall-clock time spent on it
    (worker start-up excluded), its `pages` when known, the `parser` that read it, and whether
    the parse is an earlier one `reused` (same bytes, same parser version)."""

    document_id: str
    document: ParsedDocument | None
    reason: str = ""
    detail: str = ""
    seconds: float = 0.0
    pages: int | None = None
    parser: str = DEFAULT_PARSER
    reused: bool = False


def _limit_memory(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _parse(task: ParseTask) -> ParseOutcome:
    """The body of one worker task."""
    started = time.perf_counter()
    try:
        document = parse_document(task.parser, task.document_id, task.data, task.name, task.sha256)
    except DocumentParseError as error:
        elapsed = time.perf_counter() - started
        return ParseOutcome(task.document_id, None, error.reason, error.detail, elapsed, error.pages, task.parser)
    elapsed, pages = time.perf_counter() - started, len(document.page_starts)
    return ParseOutcome(task.document_id, document, seconds=elapsed, pages=pages, parser=task.parser)


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
        return f"the parse worker died of {name}{hint}"
    return f"the parse worker exited with code {exitcode}"


def parse_bounded(
    documents: Iterable[ParseTask],
    limits: ParseLimits,
    parse: Callable[[ParseTask], ParseOutcome] = _parse,
) -> Iterator[ParseOutcome]:
    """Parses each document in a bounded worker, yielding outcomes as they complete.

    Args:
        documents: the tasks; read lazily, at most 2 x `limits.workers` documents are held at
            once.
        limits: the time and memory bounds.
        parse: the task run in the worker (a module-level function, imported there by name);
            `parse_document` with its reasons by default.

    Yields:
        One `ParseOutcome` per document, in completion order. A document that exceeds its time
        limit gets reason `timeout`; one whose worker dies (a signal, an abort in native code)
        gets `worker_died`; an exception that escapes `parse` gets `memory_limit` (a
        `MemoryError`: the address-space limit was hit) or `parse_error`.
    """
    pending: dict[Future, tuple[ParseTask, float]] = {}

    def finished(future: Future) -> ParseOutcome:
        task, scheduled = pending.pop(future)
        document_id, parser = task.document_id, task.parser
        elapsed = time.perf_counter() - scheduled
        try:
            return future.result()
        except FutureTimeout:
            detail = f"parsing took longer than {limits.timeout_seconds:g} s; its worker was killed"
            return ParseOutcome(document_id, None, "timeout", detail, elapsed, parser=parser)
        except ProcessExpired as error:
            return ParseOutcome(document_id, None, "worker_died", _exit_reason(error.exitcode), elapsed, parser=parser)
        except MemoryError:
            detail = f"the worker ran past its memory limit ({limits.memory_bytes / 1024**2:,.0f} MiB)"
            return ParseOutcome(document_id, None, "memory_limit", detail, elapsed, parser=parser)
        except Exception as error:  # noqa: BLE001 - whatever a document does, it gets an outcome
            detail = f"{type(error).__name__}: {error}"[:500]
            return ParseOutcome(document_id, None, "parse_error", detail, elapsed, parser=parser)

    pool = ProcessPool(
        max_workers=limits.workers,
        max_tasks=limits.tasks_per_worker,
        initializer=_limit_memory,
        initargs=(limits.memory_bytes,),
        context=multiprocessing.get_context("spawn"),  # pyright: ignore[reportArgumentType] - pebble takes any context
    )
    try:
        for task in documents:
            while len(pending) >= 2 * limits.workers:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                yield from (finished(future) for future in done)
            future = pool.schedule(parse, args=(task,), timeout=limits.timeout_seconds)
            pending[future] = (task, time.perf_counter())
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            yield from (finished(future) for future in done)
    finally:
        pool.stop()
        pool.join()
