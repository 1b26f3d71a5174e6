"""New documents: a sensor on the document source (a folder or an S3 prefix)."""

import json
import os

import dagster as dg

from dream_assets.defs.documents.assets import parsed_documents, source_documents
from dream_assets.partitions import DOCUMENTS, document_partitions
from resources.sources import DocumentSource

# seconds between two looks at the source (`DREAM_SENSOR_INTERVAL_S`, read when the
# definitions load: an S3 LIST per look)
SENSOR_INTERVAL_S = int(os.environ.get("DREAM_SENSOR_INTERVAL_S", "60"))


@dg.sensor(
    asset_selection=[source_documents, parsed_documents],
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def new_document_sensor(context: dg.SensorEvaluationContext, document_source: DocumentSource) -> dg.SensorResult:
    """Adds a `documents` partition for every new document and requests its ingestion (the source is
    listed by `DocumentSource.list_documents`: dagster-aws's `get_objects` on an S3 prefix); a changed document
    (new ETag) is ingested again, once per version (run key = document id and ETag). The cursor
    holds the last seen ETag of every document; deleted documents are logged and dropped from
    it (their partitions and stored artifacts stay, so past evaluations remain reproducible)."""
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    listing = document_source.list_documents()
    changed = {document_id: info.etag for document_id, info in listing.items() if seen.get(document_id) != info.etag}
    deleted = sorted(set(seen) - set(listing))
    for document_id in deleted:
        context.log.warning("document %s was deleted from %s", document_id, document_source.uri)
    known = set(context.instance.get_dynamic_partitions(DOCUMENTS))
    added = sorted(set(changed) - known)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{document_id}:{etag}", partition_key=document_id)
            for document_id, etag in sorted(changed.items())
        ],
        dynamic_partitions_requests=[document_partitions.build_add_request(added)] if added else [],
        cursor=json.dumps({document_id: info.etag for document_id, info in sorted(listing.items())}),
    )
