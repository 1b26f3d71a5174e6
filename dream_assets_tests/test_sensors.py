"""`watched_corpus_sensor`: what it starts, on a real folder and a real S3 prefix, against a real
Dagster instance (the refreshes themselves: `integration/test_daemon.py`)."""

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from dream_assets.corpus import TAG_CORPUS, watch_corpus, write_corpus
from dream_assets.defs.refresh.plan import CorpusChanges, refresh_stages
from dream_assets.defs.stages import key_ranges
from dream_assets.search_space import SearchSpace
from resources.object_store import LocalObjectStore
from resources.sources import DocumentSource

PDFS = Path(__file__).resolve().parent.parent / "data" / "demo" / "squad" / "pdfs"
OPTIONS = {"golden": {"source": "human"}, "generation_sample_size": 2}


def _sensor():
    from dream_assets.defs.refresh.job import corpus_refresh_job
    from dream_assets.defs.refresh.sensor import watched_corpus_sensor

    return watched_corpus_sensor(corpus_refresh_job(lambda: None))


def _tick(sensor, instance, store_root: Path, source: DocumentSource, cursor):
    resources = {"object_store": LocalObjectStore(root=str(store_root)), "document_source": source}
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensor(context)


def test_a_watched_folder_starts_one_refresh_per_settled_change(tmp_path):
    inbox, root = tmp_path / "inbox", tmp_path / "store"
    inbox.mkdir()
    store = LocalObjectStore(root=str(root)).client()
    elsewhere = DocumentSource(uri=str(tmp_path / "the-deployments-own-source"))  # the binding's source is used
    sensor = _sensor()
    with dg.instance_for_test() as instance:
        first = _tick(sensor, instance, root, elsewhere, None)
        assert first.run_requests == [] and first.skip_reason.skip_message == "no watched corpus changed"
        watch_corpus(store, "inbox", str(inbox), OPTIONS)
        for name in ("Normans.pdf", "Force.pdf"):
            shutil.copy(PDFS / name, inbox / name)
        settling = _tick(sensor, instance, root, elsewhere, first.cursor)
        assert settling.run_requests == [] and settling.skip_reason.skip_message == "inbox: settling"
        shutil.copy(PDFS / "Warsaw.pdf", inbox / "Warsaw.pdf")  # a third upload while settling
        still = _tick(sensor, instance, root, elsewhere, settling.cursor)
        assert still.run_requests == []
        [request] = _tick(sensor, instance, root, elsewhere, still.cursor).run_requests  # one refresh for three
        assert request.tags == {TAG_CORPUS: "inbox"} and request.run_key.startswith("inbox:")
        listing = request.run_config["ops"]["refresh_corpus"]["config"]["listing"]
        assert sorted(listing) == ["force", "normans", "warsaw"]

        # while a run of the corpus is unfinished, nothing starts
        run = instance.create_run_for_job(dg.GraphDefinition("stand_in").to_job(), tags={TAG_CORPUS: "inbox"})
        instance.report_run_canceling(run)
        waiting = _tick(sensor, instance, root, elsewhere, still.cursor)
        assert waiting.skip_reason.skip_message == "inbox: a run is unfinished"
        instance.report_run_canceled(run)

        # applied (what a refresh records at its end): nothing more, until a change
        write_corpus(store, "inbox", sorted(listing), str(inbox), listing)
        applied = _tick(sensor, instance, root, elsewhere, still.cursor)
        assert applied.run_requests == []
        time.sleep(0.01)
        shutil.copy(PDFS / "Warsaw.pdf", inbox / "Force.pdf")  # changed content
        os.utime(inbox / "Force.pdf")
        (inbox / "Normans.pdf").unlink()
        settled = _tick(sensor, instance, root, elsewhere, _tick(sensor, instance, root, elsewhere, None).cursor)
        [changed] = settled.run_requests
        new_listing = changed.run_config["ops"]["refresh_corpus"]["config"]["listing"]
        assert CorpusChanges.between(listing, new_listing) == CorpusChanges([], ["force"], ["normans"])
        assert changed.run_key != request.run_key


@pytest.mark.integration
def test_a_watched_s3_prefix_is_listed_with_the_deployments_credentials(s3_server, s3_bucket, tmp_path):
    client, bucket = s3_bucket
    root = tmp_path / "store"
    store = LocalObjectStore(root=str(root)).client()
    deployment_source = DocumentSource(
        uri=f"s3://{bucket}/elsewhere",
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
    )
    watch_corpus(store, "inbox", f"s3://{bucket}/inbox", OPTIONS)
    client.put_object(Bucket=bucket, Key="inbox/Normans.pdf", Body=(PDFS / "Normans.pdf").read_bytes())
    client.put_object(Bucket=bucket, Key="elsewhere/Warsaw.pdf", Body=(PDFS / "Warsaw.pdf").read_bytes())
    sensor = _sensor()
    with dg.instance_for_test() as instance:
        cursor = _tick(sensor, instance, root, deployment_source, None).cursor
        [request] = _tick(sensor, instance, root, deployment_source, cursor).run_requests
        listing = request.run_config["ops"]["refresh_corpus"]["config"]["listing"]
        assert list(listing) == ["normans"] and len(listing["normans"]) == 32  # the object's ETag (MD5)
        # the same object uploaded again: the same ETag, the same run key (Dagster starts it once)
        client.put_object(Bucket=bucket, Key="inbox/Normans.pdf", Body=(PDFS / "Normans.pdf").read_bytes())
        [again] = _tick(sensor, instance, root, deployment_source, cursor).run_requests
        assert again.run_key == request.run_key


def test_key_ranges_split_a_set_into_contiguous_runs():
    ordered = ["a", "b", "c", "d", "e"]
    assert key_ranges(ordered, {"b", "c", "e"}) == [["b", "c"], ["e"]]
    assert key_ranges(ordered, set()) == []
    with pytest.raises(KeyError, match="'z'"):
        key_ranges(ordered, {"z"})


def test_a_refresh_rebuilds_only_what_tier_one_reads():
    from dream_assets.defs.refresh.plan import RefreshOptions

    space = SearchSpace.model_validate(
        {
            "retrieval": [{"method": "chunks", "chunk_size": 256, "chunk_overlap": 32}, {"method": "sentence_window"}],
            "embedding_models": ["all-MiniLM-L6-v2"],
            "llms": ["gemma-3-270m"],
            "top_k": [2, 4],
        }
    )
    keys = [config.key for config in space.configs()]
    tier = [key for key in keys if key.startswith("window")]
    options = RefreshOptions.model_validate(OPTIONS)
    changes = CorpusChanges(added=["new"], changed=["old"], deleted=["gone"])
    stages = refresh_stages(space, options, changes, ["old", "kept", "new"], tier)
    by_job = {stage.job: stage for stage in stages}
    assert [stage.keys for stage in stages if stage.job == "ingest_job"] == [["old"], ["new"]]
    assert by_job["index_job"].keys == sorted({space.configs_by_key[key].index_key for key in tier})
    assert [stage.keys for stage in stages if stage.job == "sweep_job"] == [tier]
    assert stages[-1].job == "leaderboard_job"
    everything = refresh_stages(space, options, CorpusChanges(["new"], [], []), ["new"], None)
    assert sum(len(stage.keys or []) for stage in everything if stage.job == "sweep_job") == len(keys)
