"""Watched corpora: a sensor on each one's source (a folder or an S3 prefix) that starts one
refresh per settled change (`dream_assets.defs.refresh.job`)."""

from __future__ import annotations

import json
import warnings

import dagster as dg

from dream_assets.corpus import TAG_CORPUS, applied_versions, watched_corpora
from dream_assets.defs.refresh.plan import CorpusChanges
from dream_assets.hashing import content_hash
from dream_assets.settings import settings
from dream_assets.state_lock import local_state_holder
from resources.object_store import ObjectStore
from resources.sources import DocumentSource

# Dagster's Definitions re-create a sensor that targets a job to attach resources to that job,
# passing `owners` (unset) to an initializer that calls the parameter beta: nothing for a user to
# act on; ignored, that message from that module.
warnings.filterwarnings(
    "ignore",
    r"Parameter `owners` of initializer `SensorDefinition",
    dg.BetaWarning,
    r"dagster\._core\.definitions\.sensor_definition",
)
# seconds between two looks at each watched source (`DREAM_SENSOR_INTERVAL_S`, read when the
# definitions load: an S3 LIST per watched corpus and look)
SENSOR_INTERVAL_S = settings().sensor_interval_s
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def watched_corpus_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    """`watched_corpus_sensor`, starting `job` (`corpus_refresh_job`)."""

    @dg.sensor(
        name="watched_corpus_sensor",
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def sensor(
        context: dg.SensorEvaluationContext, object_store: ObjectStore, document_source: DocumentSource
    ) -> dg.SensorResult:
        """Lists the source of every watched corpus (`dream_assets.corpus.watch_corpus`: on S3 with
        dagster-aws's `get_objects`, the deployment's endpoint and keys) and starts one
        `corpus_refresh_job` run, tagged with the corpus, when the listing differs from what the
        corpus last applied (a document added, changed, with a new ETag, or deleted).

        Debounced: a listing is acted on once two looks in a row saw it (ten uploads at once give
        one refresh), and never while a run of that corpus is unfinished (a refresh or
        `dream run`: the next look after it acts), nor while another process holds the local
        state directory (`dream_assets.state_lock`: a `dream run`, another corpus' refresh).
        The run key is the corpus and the hash of what was applied and what is listed, so one
        change starts at most one refresh, even after it failed (the next change starts the
        next); the same object uploaded again (same ETag) starts nothing, and a deletion back to
        an earlier listing is a change of its own. The cursor holds each corpus' last listing. A
        source that cannot be listed is logged and skipped."""
        store = object_store.client()
        seen: dict[str, dict[str, str]] = json.loads(context.cursor) if context.cursor else {}
        requests, waiting = [], []
        for corpus, binding in sorted(watched_corpora(store).items()):
            try:
                found = document_source.with_uri(binding["source"]).list_documents()
            except Exception as error:  # noqa: BLE001 - one unreadable source must not stop the others
                context.log.warning("corpus %s: cannot list %s: %s", corpus, binding["source"], error)
                continue
            listing = {document_id: info.etag for document_id, info in found.items()}
            previous, seen[corpus] = seen.get(corpus), listing
            applied = applied_versions(store, corpus)
            changes = CorpusChanges.between(applied, listing)
            if not changes:
                continue
            if listing != previous:
                waiting.append(f"{corpus}: settling")
                continue
            if _unfinished(context.instance, corpus):
                waiting.append(f"{corpus}: a run is unfinished")
                continue
            if holder := local_state_holder():
                waiting.append(f"{corpus}: {holder.get('purpose', 'another process')} holds the state directory")
                continue
            context.log.info(
                "corpus %s: %d added, %d changed, %d deleted",
                corpus,
                len(changes.added),
                len(changes.changed),
                len(changes.deleted),
            )
            requests.append(
                dg.RunRequest(
                    run_key=f"{corpus}:{content_hash([applied, listing])}",
                    run_config={"ops": {"refresh_corpus": {"config": {"listing": listing}}}},
                    tags={TAG_CORPUS: corpus},
                )
            )
        return dg.SensorResult(
            run_requests=requests,
            cursor=json.dumps(seen, sort_keys=True),
            skip_reason=None if requests else ("; ".join(waiting) or "no watched corpus changed"),
        )

    return sensor


def _unfinished(instance: dg.DagsterInstance, corpus: str) -> bool:
    """Whether a run tagged with `corpus` is queued or in progress."""
    runs = instance.get_run_records(dg.RunsFilter(tags={TAG_CORPUS: corpus}, statuses=UNFINISHED), limit=1)
    return bool(runs)
