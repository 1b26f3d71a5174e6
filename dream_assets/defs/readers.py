"""What stages read of one another's outputs: parsed documents, the current golden set, the
current version of an index (how a worker opens it: `dream_assets.defs.workers`). Asset modules import these, never one
another's assets for them."""

from __future__ import annotations

import dagster as dg

from dream_assets import layout
from dream_assets.corpus import corpus_record
from dream_assets.lib.golden.alignment import contexts_key
from dream_assets.partitions import DOCUMENTS
from dream_assets.plugins.parsers import DEFAULT_PARSER, ParsedDocument


def read_parsed_documents(
    instance: dg.DagsterInstance, store, corpus: str = "", parser: str = DEFAULT_PARSER
) -> dict[str, ParsedDocument]:
    """Every document of `corpus` (`dream_assets.corpus`; '': every document partition) as
    `parser` parsed it, by document id; those it quarantined are absent.

    Raises:
        FileNotFoundError: if `corpus` was never recorded.
    """
    if corpus:
        document_ids = corpus_record(store, corpus)["documents"]
    else:
        document_ids = instance.get_dynamic_partitions(DOCUMENTS)
    documents = {}
    for document_id in sorted(document_ids):
        key = layout.parsed_document_key(document_id, parser)
        if store.exists(key):
            documents[document_id] = ParsedDocument.from_dict(store.read_json(key))
    return documents


def read_current_golden(store, corpus: str = "", parser: str = DEFAULT_PARSER):
    """Returns (version, questions, contexts) of the current golden set of `corpus`
    (`dream_assets.corpus`; '': every document partition), its reference contexts aligned into
    `parser`'s text (`dream_assets.lib.golden.alignment.contexts_key`).

    Raises:
        FileNotFoundError: if `golden_dataset` was never materialised on that corpus, or its
            contexts were not aligned into `parser`'s text.
    """
    pointer = store.read_json(layout.golden_pointer(corpus))
    prefix = pointer["prefix"]
    return (
        pointer["version"],
        store.read_parquet(f"{prefix}/questions.parquet"),
        store.read_parquet(contexts_key(store, prefix, parser)),
    )


def current_index_pointer(store, index_key: str, corpus: str = "") -> dict:
    """The pointer (`version`, `prefix`, `table`, and since December 2026 `corpus_version`: the
    parsed corpus it was built on) to the current version of index `index_key` on `corpus`
    (`dream_assets.corpus`; '': every document partition).

    Raises:
        FileNotFoundError: if that index was never built.
    """
    return store.read_json(layout.index_pointer(index_key, corpus))


def read_golden_sizing(store, golden_version: str) -> dict:
    """How a golden set sized to the decision was generated (`dream_assets.lib.golden.sizing`):
    its `rounds`, `stopped_because`, `note` and `rule`; {} for a set of fixed size."""
    key = f"{layout.golden_prefix(golden_version)}/{layout.GOLDEN_SIZING}"
    return store.read_json(key) if store.exists(key) else {}
