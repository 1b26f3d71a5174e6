"""Documents: raw PDFs copied into the object store, then parsed to text (one partition each).

A PDF that cannot be parsed is quarantined with its reason (a record in the object store, the
asset's metadata and the `parsed_documents_are_not_quarantined` check); the others flow on.
"""

import dagster as dg

from dream_assets import layout
from dream_assets.corpus import corpus_record
from dream_assets.lib.hashing import sha256_bytes
from dream_assets.lib.parsing import DocumentParseError, ParsedDocument, parse_pdf
from dream_assets.partitions import document_partitions
from resources.object_store import ObjectStore
from resources.pdf_source import PdfSource


class ParsingConfig(dg.Config):
    """`max_bytes`: PDFs larger than this are quarantined unparsed (default 50 MiB)."""

    max_bytes: int = 50 * 1024 * 1024


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
        data = pdf_source.read(listing[document_id])
        digest = sha256_bytes(data)
        store.write_bytes(layout.source_pdf_key(document_id), data)
        rows.append(f"| {document_id} | {listing[document_id].key} | {len(data):,} | `{digest[:12]}` |")
        context.log.info("copied %s (%d bytes)", document_id, len(data))
    return dg.MaterializeResult(
        metadata={
            "documents": len(rows),
            "missing_from_source": missing,
            "preview": dg.MetadataValue.md(
                "| document | file | bytes | sha256 |\n|---|---|---|---|\n" + "\n".join(rows)
            ),
        }
    )


@dg.asset(
    partitions_def=document_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[source_pdfs],
    group_name="documents",
    kinds={"pdf", "python"},
)
def parsed_documents(
    context: dg.AssetExecutionContext, config: ParsingConfig, object_store: ObjectStore
) -> dg.MaterializeResult:
    """Text of each PDF (pypdf), whitespace-normalised, with page offsets
    (`parsed_documents/<id>.json`, layout `ParsedDocument`).

    A PDF that is empty, not a PDF, encrypted, corrupt, text-less or over `max_bytes` is
    quarantined (`quarantine/<id>.json` with its reason) instead of failing the run.
    """
    store = object_store.client()
    parsed, quarantined = [], {}
    for document_id in context.partition_keys:
        if not store.exists(layout.source_pdf_key(document_id)):
            quarantined[document_id] = "missing: no raw PDF in the object store"
            continue
        data = store.read_bytes(layout.source_pdf_key(document_id))
        try:
            if len(data) > config.max_bytes:
                raise DocumentParseError(document_id, "too_large", f"{len(data)} bytes > max_bytes {config.max_bytes}")
            document = parse_pdf(document_id, data, sha256_bytes(data))
        except DocumentParseError as error:
            quarantined[document_id] = f"{error.reason}: {error.detail}"
            store.write_json(
                layout.quarantine_key(document_id),
                {"document_id": document_id, "reason": error.reason, "detail": error.detail},
            )
            store.delete(layout.parsed_document_key(document_id))
            context.log.warning("quarantined %s: %s", document_id, quarantined[document_id])
            continue
        store.write_json(layout.parsed_document_key(document_id), document.to_dict())
        store.delete(layout.quarantine_key(document_id))
        parsed.append(
            f"| {document_id} | {document.title[:40]} | {len(document.page_starts)} | {len(document.text):,} |"
        )
    return dg.MaterializeResult(
        metadata={
            "parsed": len(parsed),
            "quarantined": len(quarantined),
            "quarantine_reasons": quarantined,
            "preview": dg.MetadataValue.md(
                "| document | title | pages | characters |\n|---|---|---|---|\n" + "\n".join(parsed)
            ),
        }
    )


def read_parsed_documents(instance: dg.DagsterInstance, store, corpus: str = "") -> dict[str, ParsedDocument]:
    """Every parsed document of `corpus` (`dream_assets.corpus`; '': every document partition),
    by document id; quarantined ones are absent.

    Raises:
        FileNotFoundError: if `corpus` was never recorded.
    """
    if corpus:
        document_ids = corpus_record(store, corpus)["documents"]
    else:
        document_ids = instance.get_dynamic_partitions(document_partitions.name)
    documents = {}
    for document_id in sorted(document_ids):
        key = layout.parsed_document_key(document_id)
        if store.exists(key):
            documents[document_id] = ParsedDocument.from_dict(store.read_json(key))
    return documents
