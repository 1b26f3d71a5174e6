"""Documents: raw files copied into the object store, then parsed to text by every parser of the
search space (one partition per document).

A document that a parser cannot read is quarantined for that parser with its reason (a record in
the object store, the asset's metadata and the `parsed_documents_are_not_quarantined` check); the
others flow on. A parse is stored with the document's SHA-256 and the parser's version, so a
re-run parses nothing it parsed before.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.corpus import corpus_of, corpus_source
from dream_assets.defs.documents.parsing import PARSED_COLUMNS, parse_documents
from dream_assets.defs.metadata import table_metadata
from dream_assets.defs.pods import pod_resources
from dream_assets.lib.documents.parse_pool import ParseLimits
from dream_assets.partitions import document_partitions
from dream_assets.search_space import SearchSpace
from resources.object_store import ObjectStore
from resources.sources import DocumentSource


class SourceConfig(dg.Config):
    """Bounds on copying one document."""

    max_bytes: int = Field(
        default=50 * 1024 * 1024,
        description="Documents over this size (as listed by the source) are quarantined unread (50 MiB).",
    )


class ParsingConfig(dg.Config):
    """Bounds on parsing one document (`dream_assets.lib.documents.parse_pool.ParseLimits`)."""

    timeout_seconds: float = Field(
        default=120.0, description="A parse's worker process is killed after this many seconds (OCR is slow)."
    )
    memory_mb: int = Field(default=2048, description="Address space a parse's worker process may use, in MiB.")
    workers: int = Field(default=2, description="Documents parsed at once, each in its own worker process.")


@dg.asset(
    partitions_def=document_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="documents",
    kinds={"pdf", "s3"},
)
def source_documents(
    context: dg.AssetExecutionContext, config: SourceConfig, document_source: DocumentSource, object_store: ObjectStore
) -> dg.MaterializeResult:
    """The raw files, copied from the document source into the object store
    (`source_documents/<id>/<file name>`): the run's corpus' source (`dream_assets.corpus.
    corpus_source`) when it has one, else the `document_source` resource's.

    One partition per document; a run over several partitions copies each, streamed (never
    whole in memory). A document listed larger than `max_bytes` is quarantined (`too_large`)
    without a byte read; one that cannot be read, or grew past `max_bytes` while copied, is
    quarantined with its reason; the others are copied. Metadata: the original file (its path
    under the source), bytes and SHA-256 per document, and the documents no longer in the source
    (reported, not failed).
    """
    store = object_store.client()
    uri = corpus_source(store, corpus_of(context))
    if uri and uri != document_source.uri:  # a watched corpus' own source, in the same object store
        document_source = document_source.with_uri(uri)
    listing = document_source.list_documents()
    rows, missing = [], []
    for document_id in context.partition_keys:
        if document_id not in listing:
            missing.append(document_id)
            context.log.warning("document %s is no longer under %s", document_id, document_source.uri)
            continue
        info = listing[document_id]
        store.delete(layout.source_document_prefix(document_id))  # one file: an earlier one of another name goes
        if info.size > config.max_bytes:
            _quarantine(context, store, document_id, "too_large", f"{info.size} bytes > max_bytes {config.max_bytes}")
            continue
        try:
            size, sha256 = document_source.copy_to(
                info, store, layout.source_document_key(document_id, info.key), config.max_bytes
            )
        except ValueError as error:  # grew past the limit since it was listed
            _quarantine(context, store, document_id, "too_large", f"{error} (max_bytes)")
            continue
        except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
            _quarantine(context, store, document_id, "unreadable", f"{type(error).__name__}: {error}")
            continue
        rows.append({"document": document_id, "file": info.key, "bytes": size, "sha256": sha256})
        context.log.info("copied %s (%d bytes)", document_id, size)
    return dg.MaterializeResult(
        metadata={
            "documents": len(rows),
            "missing_from_source": missing,
            "preview": table_metadata(pd.DataFrame(rows, columns=["document", "file", "bytes", "sha256"])),
        }
    )


def _quarantine(context, store, document_id: str, reason: str, detail: str) -> None:
    """Records `document_id` as quarantined before parsing (`quarantine/<id>.json`), logged."""
    record = {"document_id": document_id, "reason": reason, "detail": detail}
    store.write_json(layout.quarantine_key(document_id), record)
    context.log.warning("quarantined %s: %s: %s", document_id, reason, detail)


@dg.asset(
    partitions_def=document_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[source_documents],
    group_name="documents",
    kinds={"pdf", "python"},
    check_specs=[
        dg.AssetCheckSpec(
            "parsed_documents_are_not_quarantined",
            asset="parsed_documents",
            description="Every document of the run parsed; a warning (not blocking) names the quarantined ones.",
        )
    ],
    # the parse workers live in this step's pod: `workers` x `memory_mb` and the step itself
    op_tags=pod_resources("2", "5Gi"),
)
def parsed_documents(
    context: dg.AssetExecutionContext,
    config: ParsingConfig,
    object_store: ObjectStore,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """Text of each document by each parser of the search space (`parsers:`, default `pypdf`),
    whitespace-normalised, with page offsets, its language and, for OCR'd pages, the OCR's
    confidence (`parsed_documents/<id>.json` for the default parser,
    `parsed_documents/<parser>/<id>.json` for the others; layout `ParsedDocument`).

    Each document is parsed in a worker process bounded in time and memory (`ParsingConfig`),
    and only when no parse of the same bytes by the same parser version is stored. A document a
    parser cannot read, for whatever reason (see the parsers and `parse_bounded`), is
    quarantined for that parser (`quarantine/[<parser>/]<id>.json`: reason, detail, seconds,
    pages) instead of failing the run; only the object store failing fails it. Metadata:
    seconds and pages per document and parser, parses reused.
    """
    store = object_store.client()
    limits = ParseLimits(
        timeout_seconds=config.timeout_seconds, memory_bytes=config.memory_mb * 1024**2, workers=config.workers
    )
    result = parse_documents(context, store, list(context.partition_keys), list(search_space.parsers), limits)
    quarantined = result.quarantined
    return dg.MaterializeResult(
        metadata={
            "parsers": list(search_space.parsers),
            "parsed": len(result.rows),
            "reused": result.reused,
            "quarantined": len(quarantined),
            "quarantine_reasons": quarantined,
            "max_parse_seconds": round(result.max_seconds, 3),
            "preview": table_metadata(pd.DataFrame(result.rows, columns=PARSED_COLUMNS)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="parsed_documents_are_not_quarantined",
                passed=not quarantined,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"quarantined": len(quarantined), "reasons": quarantined},
            )
        ],
    )
