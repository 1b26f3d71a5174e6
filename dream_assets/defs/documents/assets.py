"""Documents: raw PDFs copied into the object store, then parsed to text (one partition each).

A PDF that cannot be parsed is quarantined with its reason (a record in the object store, the
asset's metadata and the `parsed_documents_are_not_quarantined` check); the others flow on.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.defs.metadata import table_metadata
from dream_assets.hashing import sha256_bytes
from dream_assets.lib.documents.parse_pool import ParseLimits, ParseOutcome, parse_bounded
from dream_assets.partitions import document_partitions
from resources.object_store import ObjectStore
from resources.pdf_source import PdfSource

# the columns of `parsed_documents`' preview table
PARSED_COLUMNS = ["document", "title", "language", "pages", "characters", "seconds"]


class ParsingConfig(dg.Config):
    """Bounds on parsing one document (`dream_assets.lib.documents.parse_pool.ParseLimits`)."""

    max_bytes: int = Field(
        default=50 * 1024 * 1024, description="PDFs over this size are quarantined unparsed (50 MiB)."
    )
    timeout_seconds: float = Field(
        default=60.0, description="A parse's worker process is killed after this many seconds."
    )
    memory_mb: int = Field(default=2048, description="Address space a parse's worker process may use, in MiB.")
    workers: int = Field(default=2, description="Documents parsed at once, each in its own worker process.")


@dg.asset(
    partitions_def=document_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="documents",
    kinds={"pdf", "s3"},
)
def source_pdfs(
    context: dg.AssetExecutionContext, pdf_source: PdfSource, object_store: ObjectStore
) -> dg.MaterializeResult:
    """The raw PDFs, copied from the PDF source into the object store (`source_pdfs/<id>.pdf`).

    One partition per document; a run over several partitions copies each. Metadata: the
    original file (its path under the source), bytes and SHA-256 per document, and the
    documents no longer in the source (reported, not failed).
    """
    store = object_store.client()
    listing = pdf_source.list_pdfs()
    rows, missing = [], []
    for document_id in context.partition_keys:
        if document_id not in listing:
            missing.append(document_id)
            context.log.warning("document %s is no longer under %s", document_id, pdf_source.uri)
            continue
        try:
            data = pdf_source.read(listing[document_id])
        except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
            reason = {"document_id": document_id, "reason": "unreadable", "detail": f"{type(error).__name__}: {error}"}
            store.write_json(layout.quarantine_key(document_id), reason)
            store.delete(layout.source_pdf_key(document_id))
            context.log.warning("quarantined %s: cannot read %s: %s", document_id, listing[document_id].key, error)
            continue
        digest = sha256_bytes(data)
        store.write_bytes(layout.source_pdf_key(document_id), data)
        rows.append({"document": document_id, "file": listing[document_id].key, "bytes": len(data), "sha256": digest})
        context.log.info("copied %s (%d bytes)", document_id, len(data))
    return dg.MaterializeResult(
        metadata={
            "documents": len(rows),
            "missing_from_source": missing,
            "preview": table_metadata(pd.DataFrame(rows, columns=["document", "file", "bytes", "sha256"])),
        }
    )


@dg.asset(
    partitions_def=document_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[source_pdfs],
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
    op_tags={"dagster-k8s/config": {"container_config": {"resources": {"requests": {"cpu": "2", "memory": "5Gi"}}}}},
)
def parsed_documents(
    context: dg.AssetExecutionContext, config: ParsingConfig, object_store: ObjectStore
) -> dg.MaterializeResult:
    """Text of each PDF (pypdf), whitespace-normalised, with page offsets and its language
    (`parsed_documents/<id>.json`, layout `ParsedDocument`).

    Each PDF is parsed in a worker process bounded in time and memory (`ParsingConfig`). A PDF
    that cannot be read, for whatever reason (see `parse_pdf` and `parse_bounded`), is
    quarantined (`quarantine/<id>.json`: reason, detail, seconds, pages) instead of failing the
    run; only the object store failing fails it. Metadata: seconds and pages per document.
    """
    store = object_store.client()
    limits = ParseLimits(
        timeout_seconds=config.timeout_seconds, memory_bytes=config.memory_mb * 1024**2, workers=config.workers
    )
    outcomes: list[ParseOutcome] = []
    carried: set[str] = set()  # quarantined by source_pdfs, which logged them

    def readable():
        for document_id in context.partition_keys:
            if not store.exists(layout.source_pdf_key(document_id)):
                key = layout.quarantine_key(document_id)  # source_pdfs quarantines what it cannot read
                earlier = store.read_json(key) if store.exists(key) else {"reason": "missing", "detail": "no raw PDF"}
                outcomes.append(ParseOutcome(document_id, None, earlier["reason"], earlier["detail"]))
                carried.add(document_id)
                continue
            data = store.read_bytes(layout.source_pdf_key(document_id))
            if len(data) > config.max_bytes:
                detail = f"{len(data)} bytes > max_bytes {config.max_bytes}"
                outcomes.append(ParseOutcome(document_id, None, "too_large", detail))
                continue
            yield document_id, data, sha256_bytes(data)

    for outcome in parse_bounded(readable(), limits):
        outcomes.append(outcome)
        context.log.info(
            "%s %s in %.1f s", "parsed" if outcome.document else "rejected", outcome.document_id, outcome.seconds
        )
    rows, quarantined = _store_outcomes(context, store, outcomes, carried)
    return dg.MaterializeResult(
        metadata={
            "parsed": len(rows),
            "quarantined": len(quarantined),
            "quarantine_reasons": quarantined,
            "max_parse_seconds": round(max((outcome.seconds for outcome in outcomes), default=0.0), 3),
            "preview": table_metadata(pd.DataFrame(rows, columns=PARSED_COLUMNS)),
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


def _store_outcomes(context, store, outcomes: list[ParseOutcome], carried: set[str]) -> tuple[list[dict], dict]:
    """Writes each parsed document, or its quarantine record (reason, detail, seconds, pages),
    removing the other; returns (preview rows, reason by quarantined document). Documents in
    `carried` were quarantined (and logged) by `source_pdfs`."""
    rows, quarantined = [], {}
    for outcome in sorted(outcomes, key=lambda outcome: outcome.document_id):
        if outcome.document is None:
            quarantined[outcome.document_id] = f"{outcome.reason}: {outcome.detail}"
            record = {key: getattr(outcome, key) for key in ("document_id", "reason", "detail", "seconds", "pages")}
            store.write_json(layout.quarantine_key(outcome.document_id), record)
            store.delete(layout.parsed_document_key(outcome.document_id))
            if outcome.document_id not in carried:
                context.log.warning("quarantined %s: %s", outcome.document_id, quarantined[outcome.document_id])
            continue
        document = outcome.document
        store.write_json(layout.parsed_document_key(document.document_id), document.to_dict())
        store.delete(layout.quarantine_key(document.document_id))
        shown = (document.title, document.language, len(document.page_starts), len(document.text), outcome.seconds)
        rows.append(dict(zip(PARSED_COLUMNS, (document.document_id, *shown), strict=True)))
    return rows, quarantined
