import json

import pytest

from dream_assets.cli.chain import golden_config
from dream_assets.cli.console import UserError, root_cause
from dream_assets.corpus import corpus_name
from dream_assets.search_space import load_search_space
from dream_assets.serving import BestConfiguration


def test_corpus_names_come_from_the_folder_or_prefix():
    assert corpus_name("/data/My Contracts/") == "my-contracts"
    assert corpus_name("s3://bucket/legal/2026") == "2026"
    with pytest.raises(ValueError):
        corpus_name("/data/___")


def test_golden_auto_is_human_on_the_bundled_corpus_and_synthetic_elsewhere():
    assert golden_config("auto", True, ["normans"], 0)["source"] == "human"
    assert golden_config("auto", False, ["report"], 3) == {"source": "synthetic", "questions_per_document": 3}
    with pytest.raises(UserError, match="expected one of auto"):
        golden_config("humans", False, ["report"], 0)


def test_a_squad_file_is_checked_against_the_documents(tmp_path):
    squad = tmp_path / "mine.json"
    squad.write_text(json.dumps({"data": [{"title": "Annual Report", "paragraphs": []}]}))
    assert golden_config(str(squad), False, ["annual-report", "other"], 0)["squad_path"] == str(squad)
    with pytest.raises(UserError, match=r"matches none of the 1 documents.*'Annual Report'→annual-report"):
        golden_config(str(squad), False, ["other"], 0)
    squad.write_text("[1, 2]")
    with pytest.raises(UserError, match="not SQuAD-shaped"):
        golden_config(str(squad), False, ["other"], 0)
    with pytest.raises(UserError, match="No such file"):
        golden_config(str(tmp_path / "missing.json"), False, ["other"], 0)


def test_the_root_cause_stops_at_the_users_error():
    try:
        try:
            raise ValueError("inner detail")
        except ValueError as error:
            raise UserError("what to do") from error
    except UserError as error:
        assert str(root_cause(error)) == "what to do"
    wrapped = RuntimeError("step failed")
    wrapped.user_exception = KeyError("missing")
    assert isinstance(root_cause(wrapped), KeyError)


def test_the_best_configuration_file_holds_no_credentials(monkeypatch):
    config = load_search_space().configs()[0]
    index = {
        "method": config.retrieval.model_dump(),
        "embedding": {"name": "m", "model": "/models/m"},
        "object_store": {"root": "s3://bucket/dream", "storage_options": {"key": "AKIA", "secret": "s3cr3t"}},
        "index_prefix": "embedding_index/x/v1",
        "vector_store": {"kind": "pgvector", "dsn": "postgresql://u:pw@db/x"},
    }
    best = BestConfiguration.model_validate(
        {
            "corpus": "c",
            "corpus_version": "v",
            "golden_version": "g",
            "config_key": config.key,
            "config": config.model_dump(),
            "index": index,
            "llm": {"name": "l", "provider": "openai", "model": "l", "api_key": "sk-secret"},
        }
    )
    text = best.to_yaml()
    assert not any(secret in text for secret in ("AKIA", "s3cr3t", "pw@", "sk-secret"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "other")
    monkeypatch.setenv("DREAM_PG_DSN", "postgresql://serving")
    loaded = BestConfiguration.from_yaml(text)
    assert loaded.index.object_store.storage_options["key"] == "AKIA2"
    assert loaded.index.vector_store.dsn == "postgresql://serving" and loaded.config == config


@pytest.mark.parametrize("name", ["../x", "a'b", "My Corpus", "x" * 64, "café"])
def test_a_bad_corpus_name_is_refused_by_name_and_rule(name):
    from dream_assets.corpus import check_corpus_name

    with pytest.raises(ValueError, match=r"corpus name .*lowercase letters, digits"):
        check_corpus_name(name)


def test_dream_run_refuses_a_bad_corpus_before_any_work(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    dream = Path(sys.executable).with_name("dream")
    home = tmp_path / "home"
    result = subprocess.run(
        [str(dream), "--home", str(home), "run", "--corpus", "../x", "--documents", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("dream: --corpus: corpus name '../x'") and "'x'" in line
    assert not list(home.rglob("*.json")) and not (tmp_path / "x").exists()


def test_the_default_run_is_the_quick_one_and_the_full_evidence_run_one_option_away(tmp_path):
    from dream_assets.cli.choices import FULL_EVIDENCE_JUDGE, Evidence, evidence_defaults
    from dream_assets.search_space import FULL_EVIDENCE_SEARCH_SPACE

    # None: the shipped search space (int8 embeddings); no judge
    assert evidence_defaults(False, None, None, None, None) == Evidence(None, 8, "", 1)
    assert evidence_defaults(True, None, None, None, None) == Evidence(
        FULL_EVIDENCE_SEARCH_SPACE, 24, FULL_EVIDENCE_JUDGE, 2
    )
    own = tmp_path / "search_space.yaml"
    assert evidence_defaults(True, own, 4, "", 3) == Evidence(own, 4, "", 3)  # what the user names wins
    assert evidence_defaults(False, own, 0, "gemma-3-270m", None) == Evidence(own, 0, "gemma-3-270m", 1)
