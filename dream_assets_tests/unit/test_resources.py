import pytest

from dream_assets.lib.models.bundled import ModelIntegrityError, bundled_model_path, verify
from dream_assets.plugins.llm_providers import LlmSettings
from resources.llm import LlmProvider


def test_llm_api_key_never_serialises():
    settings = LlmSettings(name="x", provider="openai", model="m", api_base="http://h/v1", api_key="SECRET-123")
    assert "SECRET-123" not in settings.model_dump_json()
    assert "SECRET-123" not in repr(settings)


def test_unknown_llm_without_endpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not bundled.*DREAM_LLM_API_BASE"):
        LlmProvider(models_dir=str(tmp_path)).settings_for("llama-70b")
    remote = LlmProvider(models_dir=str(tmp_path), api_base="http://127.0.0.1:8000/v1").settings_for("llama-70b")
    assert (remote.provider, remote.model, remote.prompt_style) == ("openai", "llama-70b", "chat")


def test_the_llm_table_sets_prices_limits_and_retries_per_llm(tmp_path):
    provider = LlmProvider(models_dir=str(tmp_path), api_base="http://127.0.0.1:8000/v1")
    hosted = provider.settings_for("gpt-4o-mini")  # the shipped table's example entry
    assert (hosted.input_usd_per_mtok, hosted.requests_per_minute, hosted.max_attempts) == (0.15, 500, 4)
    assert hosted.cost_usd(1_000_000, 1_000_000) == pytest.approx(0.75)
    other = provider.settings_for("llama-70b")
    assert (other.input_usd_per_mtok, other.requests_per_minute) == (0.0, 0.0)
    assert hosted.identity()["model"] == "gpt-4o-mini" and "input_usd_per_mtok" not in hosted.identity()
    table = tmp_path / "llms.yaml"
    table.write_text("models:\n  llama-70b:\n    input_usd_per_mtok: 0.5\n    request_per_minute: 10\n")
    with pytest.raises(ValueError, match=r"(?s)llms.yaml.*request_per_minute"):
        provider.model_copy(update={"llm_table": str(table)}).settings_for("llama-70b")


def test_a_tampered_model_file_is_refused(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"weights")
    with pytest.raises(ModelIntegrityError, match="differs from the pinned"):
        verify(path, "0" * 64)


def test_bundled_minilm_is_found_and_verified(tmp_path):
    directory = bundled_model_path("all-MiniLM-L6-v2", tmp_path)
    assert (directory / "model.safetensors").exists() and (directory / "modules.json").exists()
    with pytest.raises(KeyError, match="not a bundled model"):
        bundled_model_path("gpt-5", tmp_path)


def test_tracker_reuses_runs_and_clears_a_past_failure(tmp_path):
    from dream_assets.lib.tracking.mlflow_client import TAG_ERROR
    from resources.tracking import MlflowTracker

    tracker = MlflowTracker(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_location=(tmp_path / "a").as_uri()
    )
    parent = tracker.find_or_create_run("sweep", {"dream.kind": "sweep"})
    run = tracker.find_or_create_run("k", {"dream.config_key": "k"}, parent)
    tracker.finish(run, error="RuntimeError: boom")
    failed = tracker.client().get_run(run)
    assert failed.info.status == "FAILED" and failed.data.tags[TAG_ERROR] == "RuntimeError: boom"
    assert tracker.find_or_create_run("k", {"dream.config_key": "k"}, parent) == run
    tracker.finish(run)
    finished = tracker.client().get_run(run)
    assert finished.info.status == "FINISHED" and TAG_ERROR not in finished.data.tags
    assert len(tracker.client().search_runs([tracker.experiment_id()])) == 2
