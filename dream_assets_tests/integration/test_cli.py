"""The `dream` command as a user runs it: a subprocess on a state directory of its own, real PDFs
that are not the demo corpus, the bundled corpus beside them, and the winner served over HTTP."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from dream_assets.lib.stores.lance_index import LanceIndex
from dream_assets.state_lock import state_directory_holder

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "pdf-samples"
BAIKAL = Path(__file__).resolve().parents[1] / "data" / "non-english" / "baikal.pdf"
# two retrieval methods, one small embedding model, the bundled LLM: the smallest sweep with a
# comparison in it
SEARCH_SPACE = """
retrieval:
  - {method: chunks, chunk_size: 256, chunk_overlap: 32}
  - {method: sentence_window, window_size: 2}
embedding_models: [all-MiniLM-L6-v2]
llms: [gemma-3-270m]
top_k: [2]
"""
PYTHON_WARNING = re.compile(r"\w+Warning: ")


def user_env(*dropped: str) -> dict[str, str]:
    """This process' environment without the test session's DREAM, Dagster and Ray settings (nor
    variables starting with any of `dropped`): what a user's shell gives `dream`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DREAM_", "DAGSTER_", "RAY_ADDRESS", *dropped))}


def dream(
    home: Path, *args: str, timeout: float = 900, pythonpath: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Runs the installed `dream` command on state directory `home`, as a user would (with
    `pythonpath` first on PYTHONPATH: a user's own packages; `env`: variables the user set)."""
    command, env = dream_command(home, *args, pythonpath=pythonpath, env=env)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=home.parent)


def dream_command(
    home: Path, *args: str, pythonpath: str = "", env: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment `dream` runs with (see `dream`)."""
    env = {**user_env(), **(env or {})}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, *filter(None, [env.get("PYTHONPATH")])])
    return [str(Path(sys.executable).with_name("dream")), "--home", str(home), *args], env


@pytest.fixture(scope="module")
def home(tmp_path_factory, models_dir) -> Path:
    """A state directory whose bundled models are the session's (assembled once)."""
    return new_home(tmp_path_factory.mktemp("dream_home"), models_dir, SEARCH_SPACE)


def new_home(state: Path, models_dir: Path, search_space: str) -> Path:
    """`state` as a state directory with the session's bundled models and `search_space.yaml`."""
    state.mkdir(parents=True, exist_ok=True)
    models_dir.mkdir(parents=True, exist_ok=True)
    (state / "models").symlink_to(models_dir, target_is_directory=True)
    (state / "search_space.yaml").write_text(search_space, encoding="utf-8")
    return state


@pytest.fixture(scope="module")
def own_pdfs(home) -> Path:
    """Producers' sample PDFs (LibreOffice, Google Docs, pdfkit, and one encrypted) and a
    Russian one under a Cyrillic name, copied into the test's own folder."""
    folder = home.parent / "my-contracts"
    folder.mkdir(exist_ok=True)
    for name in ("google-doc-document.pdf", "pdfkit.pdf", "libreoffice-writer-password.pdf", "minimal-document.pdf"):
        shutil.copy(SAMPLES / name, folder / name)
    shutil.copy(BAIKAL, folder / "Байкал.pdf")
    return folder


@pytest.fixture(scope="module")
def own_and_second_run(home, own_pdfs) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """`dream run` on the producers' PDFs, and a second `dream run` on the same state directory
    started while the first holds it."""
    space = str(home / "search_space.yaml")
    # synthetic questions sized to the decision, within a budget that the first round spends
    options = ["--search-space", space, "--generation-minutes", "0.05", "--generation-sample-size", "2"]
    command, env = dream_command(home, "run", "--pdfs", str(own_pdfs), *options, "--judge-llm", "")
    pipe = subprocess.PIPE
    first = subprocess.Popen(command, stdout=pipe, stderr=pipe, text=True, env=env, cwd=home.parent)
    deadline = time.monotonic() + 120
    while state_directory_holder(home) is None and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    second = dream(home, "run", "--documents", "1", "--judge-llm", "", timeout=120)
    stdout, stderr = first.communicate(timeout=900)
    return subprocess.CompletedProcess(command, first.returncode, stdout, stderr), second


@pytest.fixture(scope="module")
def own_run(own_and_second_run) -> subprocess.CompletedProcess:
    return own_and_second_run[0]


@pytest.fixture(scope="module")
def bundled_run(home, own_run) -> subprocess.CompletedProcess:
    space = str(home / "search_space.yaml")
    # no judge: its stage is the chain test's, the bundled judges' scoring test_judge's
    return dream(home, "run", "--documents", "2", "--questions-per-document", "0", "--search-space", space,
                 "--generation-sample-size", "2")  # fmt: skip


def _store(home: Path) -> Path:
    return home / "object_store"


def _golden(home: Path, corpus: str) -> tuple[str, pd.DataFrame]:
    pointer = json.loads((_store(home) / "corpora" / corpus / "golden_dataset.json").read_text())
    return pointer["version"], pd.read_parquet(_store(home) / pointer["prefix"] / "questions.parquet")


def _assert_readable(run: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in run.stderr + run.stdout
    assert not PYTHON_WARNING.findall(run.stderr), run.stderr[-3000:]


def test_a_golden_file_that_matches_no_document_fails_before_any_work(home, own_pdfs, tmp_path):
    elsewhere = tmp_path / "my_squad.json"  # SQuAD v1.1 layout: no is_impossible
    article = {"title": "Quarterly Report", "paragraphs": [{"context": "Revenue grew.", "qas": [
        {"id": "q1", "question": "What grew?", "answers": [{"text": "Revenue", "answer_start": 0}]}]}]}  # fmt: skip
    elsewhere.write_text(json.dumps({"version": "1.1", "data": [article]}))
    run = dream(home / "fail", "run", "--pdfs", str(own_pdfs), "--golden", str(elsewhere))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "matches none of the 5 documents" in lines[0]
    assert "'Quarterly Report'→quarterly-report" in lines[0] and "--golden synthetic" in lines[0]
    assert not (home / "fail" / "object_store" / "source_documents").exists()  # nothing was ingested

    elsewhere.write_text(json.dumps({"questions": ["not SQuAD"]}))
    run = dream(home / "fail", "run", "--pdfs", str(own_pdfs), "--golden", str(elsewhere))
    assert run.returncode == 2 and "not SQuAD-shaped" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (SEARCH_SPACE.replace("chunk_overlap: 32", "chunk_overlap: 300"), "chunk_overlap 300 must be below chunk_size"),
        (SEARCH_SPACE.replace("top_k: [2]", "top_k: [0]"), "top_k.0: Input should be greater than 0 (got 0)"),
        (SEARCH_SPACE + "rerankerz: [none]\n", "rerankerz: Extra inputs are not permitted"),
        (SEARCH_SPACE.replace("[all-MiniLM-L6-v2]", "[my-org/my-embedder]"), "'my-org/my-embedder' is not bundled"),
        (SEARCH_SPACE.replace("[gemma-3-270m]", "[gpt-9]"), "'gpt-9' is not bundled"),
    ],
)
def test_a_bad_search_space_fails_in_one_line_before_any_work(home, own_pdfs, tmp_path, space, expected):
    path = tmp_path / "space.yaml"
    path.write_text(space, encoding="utf-8")
    run = dream(home / "bad-space", "run", "--pdfs", str(own_pdfs), "--search-space", str(path))
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr[-2000:]
    assert lines[0].startswith(f"dream: search space {path}: ") and expected in lines[0]
    assert not (home / "bad-space" / "object_store" / "source_documents").exists()  # nothing was ingested


def test_own_pdfs_get_a_synthetic_golden_set_and_a_leaderboard(home, own_run):
    assert own_run.returncode == 0, own_run.stderr[-3000:]
    _assert_readable(own_run)
    assert "quarantined libreoffice-writer-password: encrypted" in own_run.stderr
    version, questions = _golden(home, "my-contracts")
    assert len(questions) >= 1 and set(questions["golden_source"]) == {"synthetic"}
    # the golden set's make-up, printed: its kinds with their lexical overlap
    printed = " ".join(own_run.stdout.split())
    assert f"golden set: {len(questions)} questions: {len(questions)} synthetic (" in printed
    for kind, count in questions["question_kind"].value_counts().items():
        assert f"{kind} {count}" in printed
    # why generation stopped, under the make-up and again under the verdict
    stopped = f"synthetic questions generated in 1 round ({len(questions)} questions, "
    assert printed.count(stopped) == 2, printed[:3000]
    assert "stopped: another round would pass the time budget (0.05 min); tier 1 held " in printed
    assert " of 2 configurations, winner " in printed
    board = pd.read_parquet(_store(home) / "experiment_leaderboard" / version / "leaderboard.parquet")
    assert len(board) == 2 and board["tier"].notna().all()
    assert "DREAM leaderboard of corpus 'my-contracts'" in own_run.stdout
    assert "dream serve --corpus my-contracts" in own_run.stdout
    # the checks of every stage, summed up: the encrypted sample's quarantine is a warning
    [checks] = [line for line in own_run.stdout.splitlines() if line.startswith("asset checks: ")]
    assert "failed: parsed_documents_are_not_quarantined on parsed_documents (warn)" in checks, checks
    # the Russian document parses under an id of its own, is indexed, and is asked nothing
    (russian,) = [p for p in (_store(home) / "parsed_documents").glob("document-*.json")]
    assert json.loads(russian.read_text())["language"] == "ru"
    for manifest in (_store(home) / "embedding_index").rglob("manifest.json"):
        index = LanceIndex(manifest.parent / "lancedb", {})
        nodes = index.node_json(list(index.rows_by_id.values()))
        assert any("Ольхон" in node["__data__"]["text"] for node in nodes), manifest
    failures = pd.read_parquet(_store(home) / "golden_dataset" / version / "failures.parquet")
    assert list(failures.loc[failures["document_id"] == russian.stem, "reason"]) == ["unsupported_language"]


def test_a_second_run_on_a_held_state_directory_exits_2_in_one_line(home, own_and_second_run):
    first, second = own_and_second_run
    assert second.returncode == 2, second.stderr[-3000:]
    [line] = second.stderr.strip().splitlines()
    assert line.startswith(f"dream: state directory {home} is in use by dream run --corpus my-contracts (pid ")
    assert first.returncode == 0 and state_directory_holder(home) is None  # released at its end


def test_two_corpora_give_two_leaderboards_and_all_questions_pass_the_checks(home, own_run, bundled_run):
    assert bundled_run.returncode == 0, bundled_run.stderr[-3000:]  # the blocking golden checks passed
    _assert_readable(bundled_run)
    own_version, own_questions = _golden(home, "my-contracts")
    bundled_version, bundled_questions = _golden(home, "squad-demo")
    assert set(bundled_questions["golden_source"]) == {"human"} and len(bundled_questions) > 100
    assert not set(own_questions["document_id"]) & set(bundled_questions["document_id"])
    assert own_version != bundled_version
    for version in (own_version, bundled_version):
        assert (_store(home) / "experiment_leaderboard" / version / "leaderboard.parquet").exists()
    printed = dream(home, "leaderboard", "--corpus", "my-contracts")
    assert printed.returncode == 0 and f"golden set {own_version}" in " ".join(printed.stdout.split())  # wrapped at 100
    assert "Judged by" not in printed.stdout  # --judge-llm ''
    # the bundled corpus passes every asset check of its stages (golden, indexes, trials, leaderboard)
    [checks] = [line for line in bundled_run.stdout.splitlines() if line.startswith("asset checks: ")]
    assert re.fullmatch(r"asset checks: (\d+) of \1 passed", checks), checks

    import dagster as dg

    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        for corpus in ("my-contracts", "squad-demo"):
            assert len(instance.get_runs(dg.RunsFilter(tags={"dream/corpus": corpus}))) == 5


def test_the_leaderboard_for_scripts_and_a_paired_comparison(home, bundled_run):
    from io import StringIO

    version, _ = _golden(home, "squad-demo")
    board = pd.read_parquet(_store(home) / "experiment_leaderboard" / version / "leaderboard.parquet")
    records = json.loads(dream(home, "leaderboard", "--corpus", "squad-demo", "--format", "json").stdout)
    assert [r["config_key"] for r in records] == board["config_key"].tolist()
    assert [r["mrr"] for r in records] == pytest.approx(board["mrr"].tolist())
    csv = pd.read_csv(StringIO(dream(home, "leaderboard", "--corpus", "squad-demo", "--format", "csv").stdout))
    assert list(csv.columns) == list(board.columns) and len(csv) == len(board)

    first, second = board["config_key"].tolist()[:2]
    compared = dream(home, "compare", first, second, "--corpus", "squad-demo", "--format", "json")
    mrr = next(row for row in json.loads(compared.stdout) if row["metric"] == "mrr")
    trials = _store(home) / "trial_evaluations" / version
    tables = {key: pd.read_parquet(trials / f"{key}.parquet") for key in (first, second)}
    selection = {key: table[table["split"] != "held_out"] for key, table in tables.items()}
    assert mrr["n"] == len(selection[first]) == board.loc[0, "mrr_n"]
    assert mrr["first"] == pytest.approx(selection[first]["mrr"].mean())
    assert mrr["difference"] == pytest.approx(mrr["first"] - mrr["second"])
    assert mrr["difference_ci95_low"] <= mrr["difference"] <= mrr["difference_ci95_high"] and 0 <= mrr["p_value"] <= 1
    missing = dream(home, "compare", first, "no-such-config", "--corpus", "squad-demo")
    assert missing.returncode == 2 and "evaluated: " in missing.stderr and first in missing.stderr


API_SCRIPT = """
import json, sys
import dream_assets as dream

home, report = sys.argv[1], sys.argv[2]
board = dream.leaderboard("squad-demo", home=home)
first, second = board["config_key"][:2]
compared = dream.compare(first, second, corpus="squad-demo", home=home)
written = dream.report(output=report, home=home)  # the corpus run last
try:
    dream.compare(first, "no-such-config", corpus="squad-demo", home=home)
except dream.UserError as error:
    missing = str(error)
print(json.dumps({"board": json.loads(board.to_json(orient="records")), "report": str(written),
                  "compared": json.loads(compared.to_json(orient="records")), "missing": missing}))
"""


def test_the_python_api_gives_what_the_commands_print(home, bundled_run, tmp_path):
    """`dream_assets.leaderboard | compare | report` in a user's script, against the commands'
    machine-readable output on the same state directory."""
    assert bundled_run.returncode == 0
    command, env = dream_command(home)
    script = [sys.executable, "-c", API_SCRIPT, str(home), str(tmp_path / "api.html")]
    ran = subprocess.run(script, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    got = json.loads(ran.stdout.strip().splitlines()[-1])
    printed = json.loads(dream(home, "leaderboard", "--corpus", "squad-demo", "--format", "json").stdout)
    assert got["board"] == printed and len(printed) >= 2
    first, second = printed[0]["config_key"], printed[1]["config_key"]
    compared = dream(home, "compare", first, second, "--corpus", "squad-demo", "--format", "json")
    assert got["compared"] == json.loads(compared.stdout)
    assert "no-such-config" in got["missing"] and "evaluated: " in got["missing"]
    html = Path(got["report"]).read_text(encoding="utf-8")
    assert got["report"] == str(tmp_path / "api.html") and 'id="verdict"' in html and first in html


def test_the_served_winner_answers_a_golden_question_as_its_trial_did(home, bundled_run):
    assert bundled_run.returncode == 0
    version, _ = _golden(home, "squad-demo")
    best = (_store(home) / "best_rag_configuration" / version / "best_rag_configuration.yaml").read_text()
    key = re.search(r"^config_key: (\S+)$", best, re.M).group(1)
    trial = pd.read_parquet(_store(home) / "trial_evaluations" / version / f"{key}.parquet")
    asked = trial[trial["generated"]].iloc[0]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DREAM_", "DAGSTER_"))}
    command = [str(Path(sys.executable).with_name("dream")), "--home", str(home), "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=home.parent, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/ping", server)
        record = {"question": asked["user_input"]}
        served = _invoke(port, {"dataframe_records": [record], "params": {"return_contexts": True}})[0]
        plain = _invoke(port, {"dataframe_records": [record]})[0]  # texts only when asked
        with pytest.raises(urllib.error.HTTPError) as refused:  # capped: one question of 4,001 characters
            _invoke(port, {"dataframe_records": [{"question": "x" * 4001}]})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert served["answer"] == asked["response"] and served["error"] == ""
    assert served["context_ids"] == list(asked["retrieved_node_ids"])
    assert served["contexts"] == list(asked["retrieved_contexts"])
    assert served["context_scores"] == pytest.approx(list(asked["retrieval_scores"]), abs=1e-4)
    assert plain["contexts"] == [] and plain["context_ids"] == served["context_ids"]
    assert refused.value.code == 400 and "4001 characters" in refused.value.read().decode()

    # a version whose registered configuration hash is not its file's is refused at load
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("dream-squad-demo", "champion")
    recorded = champion.tags["dream.configuration_hash"]
    client.set_model_version_tag("dream-squad-demo", champion.version, "dream.configuration_hash", "0" * 16)
    try:
        refused_run = dream(home, "serve", "--no-follow", "--port", str(_free_port()), timeout=300)
    finally:
        client.set_model_version_tag("dream-squad-demo", champion.version, "dream.configuration_hash", recorded)
    assert refused_run.returncode != 0
    assert f"refusing to serve: the configuration file hashes {recorded}" in refused_run.stderr


def _invoke(port: int, body: dict) -> list[dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)["predictions"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dream serve exited {server.returncode}: {server.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"dream serve did not answer {url} in {timeout} s")


def test_the_dagster_and_mlflow_uis_show_the_lineage_the_leaderboard_and_the_sweep(home, bundled_run):
    """The UIs a user opens after `dream run` (`dream ui`, `dream mlflow-ui`), looked at in a
    browser; the screenshots are saved (`dream_assets_tests.browser.screenshots_dir`)."""
    from mlflow import MlflowClient
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from dream_assets_tests.browser import chromium_page, screenshots_dir
    from dream_assets_tests.servers import start_dagster_ui

    assert bundled_run.returncode == 0
    shots = screenshots_dir()
    env = user_env()
    with chromium_page() as page:
        ui = start_dagster_ui(home, env)
        try:
            # the lineage of the leaderboard: golden set -> indexes -> trials -> leaderboard
            page.goto(f"{ui.url}/assets/experiment_leaderboard?view=lineage&lineageScope=upstream&lineageDepth=5")
            for asset in ("golden_dataset", "embedding_index", "trial_evaluations", "experiment_leaderboard"):
                page.get_by_text(asset, exact=True).first.wait_for()
            page.screenshot(path=shots / "dagster-lineage.png")
            # the leaderboard's latest materialisation: the MLflow link, and the plot (behind
            # Dagster's [Show Markdown]); a first visit may open Dagster's newsletter dialog
            page.goto(f"{ui.url}/assets/experiment_leaderboard")
            link = page.locator("a[href*='/#/experiments/']").first
            link.wait_for()
            sweep_url = link.get_attribute("href")
            with contextlib.suppress(PlaywrightTimeout):
                page.get_by_role("button", name="Skip").click(timeout=3000)
            page.screenshot(path=shots / "dagster-leaderboard.png", full_page=True)
            row = page.locator("tr", has=page.get_by_text("plot", exact=True)).first
            row.get_by_text("[Show Markdown]").click()
            plot = page.locator("img[alt='leaderboard']").first
            plot.wait_for()
            assert plot.evaluate("image => image.naturalWidth") > 100  # the PNG decoded
            page.wait_for_timeout(1000)  # the dialog's fade-in
            page.screenshot(path=shots / "dagster-leaderboard-plot.png")
        finally:
            ui.stop()

        # the MLflow UI's comparison of the sweep's trial runs
        client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
        experiment = sweep_url.split("/#/experiments/")[1].split("/")[0]
        trials = client.search_runs([experiment], "tags.`dream.kind` = 'trial' and tags.`dream.corpus` = 'squad-demo'")
        assert len(trials) == 2
        port = _free_port()
        command = [str(Path(sys.executable).with_name("dream")), "--home", str(home), "mlflow-ui", "--port", str(port)]
        server = subprocess.Popen(command, env=env, cwd=home.parent, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            _wait_for(f"http://127.0.0.1:{port}/health", server)
            ids = json.dumps([run.info.run_id for run in trials])
            page.goto(f"http://127.0.0.1:{port}/#/compare-runs?runs={ids}&experiments={json.dumps([experiment])}")
            for run in trials:  # each run's name (its configuration key) heads a column
                page.get_by_text(run.info.run_name, exact=True).first.wait_for()
            page.get_by_text("Parallel Coordinates Plot").first.wait_for()
            page.get_by_text("top_k").first.wait_for()  # the runs' parameters are listed
            page.wait_for_timeout(1000)
            page.screenshot(path=shots / "mlflow-compare-runs.png", full_page=True)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def test_the_report_shows_the_verdict_the_intervals_the_costs_and_the_missed_questions(home, bundled_run):
    """`dream report` writes one self-contained page; opened offline in Chromium it shows the
    leaderboard's verdict, a forest plot and a Pareto plot of its configurations, and the
    winner's missed questions as its trial table has them. The run stored the same report beside
    the leaderboard and logged it to the sweep's MLflow run. Screenshots: `report-*.png`."""
    from mlflow import MlflowClient

    from dream_assets.lib.evaluation.leaderboard import verdict
    from dream_assets_tests.browser import chromium_page, screenshots_dir

    assert bundled_run.returncode == 0
    version, questions = _golden(home, "squad-demo")
    board = pd.read_parquet(_store(home) / "experiment_leaderboard" / version / "leaderboard.parquet")
    winner = board.loc[0, "config_key"]
    trial = pd.read_parquet(_store(home) / "trial_evaluations" / version / f"{winner}.parquet")
    path = home.parent / "reports" / "report.html"
    made = dream(home, "report", "--corpus", "squad-demo", "--output", str(path))
    assert made.returncode == 0 and f"report: {path}" in made.stdout, made.stderr
    assert "<script src" not in path.read_text(encoding="utf-8")  # plotly.js inlined: opens offline
    assert (_store(home) / "experiment_leaderboard" / version / "report.html").is_file()
    client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    sweep = client.search_runs(
        [client.get_experiment_by_name("dream").experiment_id],
        f"tags.`dream.kind` = 'sweep' and tags.`dream.golden_version` = '{version}'",
    )
    assert [a.path for a in client.list_artifacts(sweep[0].info.run_id) if a.path == "report.html"] == ["report.html"]

    shots = screenshots_dir()
    with chromium_page(1400, 900) as page:
        page.route("http*://**", lambda route: route.abort())  # nothing from the network
        page.goto(path.as_uri())
        assert page.locator("#verdict").inner_text() == verdict(board, "mrr")
        page.screenshot(path=shots / "report-verdict.png")
        page.locator("#forest-plot .main-svg").first.wait_for()
        forest = page.evaluate("() => document.getElementById('forest-plot').data")
        intervals = [trace for trace in forest if trace["name"].startswith("tier")]
        shown = {y: x for trace in intervals for x, y in zip(trace["x"], trace["y"], strict=True)}
        assert shown == pytest.approx(dict(zip(board["config_key"], board["mrr"], strict=True)))
        page.locator("#forest").screenshot(path=shots / "report-forest.png")
        pareto = page.evaluate("() => document.getElementById('pareto-plot').data")
        points = [trace for trace in pareto if trace["mode"] == "markers"]
        assert len(points) == 2 and sorted(points[0]["text"]) == sorted(board["config_key"])
        page.locator("#pareto").screenshot(path=shots / "report-pareto.png")
        missed = trial[trial["hit_rate"].eq(0)]
        said = page.locator("#questions p").first.inner_text()
        assert said.startswith(f"{missed['question_id'].nunique()} of {trial['question_id'].nunique()} questions")
        if not missed.empty:
            row = page.locator("#missed tbody tr").first.locator("td").all_inner_texts()
            by_id = missed.drop_duplicates("question_id").set_index("question_id")
            assert row[0] in by_id.index and row[3] == " ".join(by_id.loc[row[0], "user_input"].split())
        page.locator("#questions").screenshot(path=shots / "report-questions.png")
        kinds = page.locator("#golden-make-up tbody tr").last.locator("td").all_inner_texts()
        assert kinds[0] == "total" and int(kinds[-1]) == len(questions)
