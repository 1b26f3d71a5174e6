"""The Dagster daemon, not a test, turns an upload into a run.

`dream ui` (`dagster dev`: webserver and daemon) runs on a state directory of its own whose PDF
source is a prefix of the S3 server (`DREAM_PDF_SOURCE`, keys in the environment, as deployed).
The test turns `new_document_sensor` on through Dagster's GraphQL API and uploads PDFs; the
daemon's ticks add the partitions and launch the runs, and its run queue applies the limits of
`config/dagster.yaml`.
"""

import logging
import time
from pathlib import Path

import pytest

from dream_assets import layout
from dream_assets_tests.integration.test_cli import user_env
from dream_assets_tests.servers import start_dagster_ui
from dream_assets_tests.servers.dagster_ui import LOCATION, REPOSITORY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PDFS = Path(__file__).resolve().parents[2] / "data" / "demo" / "squad" / "pdfs"
SENSOR = {"repositoryName": REPOSITORY, "repositoryLocationName": LOCATION, "sensorName": "new_document_sensor"}
START = """mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }"""
TICKS = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { sensorState { ticks(limit: 50) { status timestamp runIds error { message } } } } } }"""
RUNS = """{ runsOrError(filter: {tags: [{key: "dagster/sensor_name", value: "new_document_sensor"}]}) {
  ... on Runs { results { runId status creationTime startTime endTime tags { key value } } } } }"""


def _runs(ui) -> dict[str, dict]:
    """The sensor's runs by document (partition key)."""
    runs = ui.graphql(RUNS)["runsOrError"]["results"]
    return {next(t["value"] for t in run["tags"] if t["key"] == "dagster/partition"): run for run in runs}


def _ticks_after(ui, moment: float) -> list[dict]:
    ticks = ui.graphql(TICKS, selector=SENSOR)["sensorOrError"]["sensorState"]["ticks"]
    return [tick for tick in ticks if tick["timestamp"] > moment and tick["status"] != "STARTED"]


def _wait(what: str, ready, ui, timeout_s: float = 300):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := ready():
            return value
        assert ui.process.poll() is None, ui.log.read_text()[-3000:]
        time.sleep(1)
    raise AssertionError(f"{what} after {timeout_s} s: {ui.log.read_text()[-3000:]}")


def test_an_upload_to_s3_is_parsed_in_a_run_the_daemon_launches(tmp_path, s3_server, s3_bucket):
    client, bucket = s3_bucket
    home = tmp_path / "home"
    home.mkdir()
    env = user_env("AWS_")
    env.update(
        DREAM_PDF_SOURCE=f"s3://{bucket}/inbox",
        AWS_ENDPOINT_URL=s3_server.endpoint_url,
        AWS_ACCESS_KEY_ID=s3_server.access_key_id,
        AWS_SECRET_ACCESS_KEY=s3_server.secret_access_key,
        DREAM_SENSOR_INTERVAL_S="5",
    )
    ui = start_dagster_ui(home, env)
    try:
        started = ui.graphql(START, selector=SENSOR)["startSensor"]
        assert started == {"__typename": "Sensor", "sensorState": {"status": "RUNNING"}}, started

        uploaded = time.time()
        client.put_object(Bucket=bucket, Key="inbox/Normans.pdf", Body=(PDFS / "Normans.pdf").read_bytes())
        run = _wait("no successful run for the upload", lambda: _succeeded(ui, "normans"), ui)
        launch_s, done_s = run["creationTime"] - uploaded, run["endTime"] - uploaded
        assert (home / "object_store" / layout.parsed_document_key("normans")).exists()

        # the same object uploaded again (same ETag): two more ticks, and no run
        again = time.time()
        client.put_object(Bucket=bucket, Key="inbox/Normans.pdf", Body=(PDFS / "Normans.pdf").read_bytes())
        ticks = _wait("fewer than two ticks", lambda: (t := _ticks_after(ui, again)) and len(t) >= 2 and t, ui)
        assert {tick["status"] for tick in ticks} == {"SKIPPED"} and not any(tick["runIds"] for tick in ticks)
        assert list(_runs(ui)) == ["normans"]

        # two uploads at once: two runs, which the run queue starts one after the other
        for name in ("Force.pdf", "1973_oil_crisis.pdf"):
            client.put_object(Bucket=bucket, Key=f"inbox/{name}", Body=(PDFS / name).read_bytes())
        both = _wait(
            "the two uploads were not parsed",
            lambda: all(_succeeded(ui, d) for d in ("force", "1973-oil-crisis")) and _runs(ui),
            ui,
        )
        first, second = sorted((both["force"], both["1973-oil-crisis"]), key=lambda r: r["startTime"])
        assert first["endTime"] <= second["startTime"], (first, second)  # never both in progress
    finally:
        ui.stop()
    logging.getLogger(__name__).warning(
        "upload to run launched %.1f s, to parsed %.1f s; queued runs %.1f-%.1f then %.1f-%.1f",
        *(launch_s, done_s, first["startTime"], first["endTime"], second["startTime"], second["endTime"]),
    )


def _succeeded(ui, document: str) -> dict | None:
    run = _runs(ui).get(document)
    if run and run["status"] in ("FAILURE", "CANCELED"):
        raise AssertionError(f"the run of {document} ended {run['status']}")
    return run if run and run["status"] == "SUCCESS" else None
