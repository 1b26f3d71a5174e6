"""The served model loads only what was chosen, and a request is capped."""

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from dream_assets.hashing import content_hash
from dream_assets.lib.models.split_gguf import sha256_file
from dream_assets.search_space import load_search_space
from dream_assets.serving import MAX_QUESTION_CHARS, MAX_QUESTIONS, BestConfiguration, check_request, verify


def _best(model_file) -> BestConfiguration:
    config = load_search_space().configs()[0]
    return BestConfiguration.model_validate(
        {
            "corpus": "c",
            "corpus_version": "v",
            "golden_version": "g",
            "config_key": config.key,
            "config": config.model_dump(),
            "index": {
                "method": config.retrieval.model_dump(),
                "embedding": {"name": "m", "model": str(model_file)},
                "object_store": {"root": "/tmp/store"},
                "index_prefix": "embedding_index/x/v1",
            },
            "llm": {"name": "l", "provider": "openai", "model": "l"},
            "model_files": {str(model_file): sha256_file(model_file)},
        }
    )


def test_a_configuration_or_model_file_that_changed_is_refused(tmp_path):
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"weights")
    best = _best(weights)
    text = best.to_yaml()
    verify(text, best, content_hash(text))  # as registered: loads
    verify(text, best, None)  # no recorded hash (a model loaded by hand): the model files still count
    with pytest.raises(ValueError, match="configuration file hashes .* the registry recorded 0000"):
        verify(text, best, "0000")
    weights.write_bytes(b"other weights")
    with pytest.raises(ValueError, match=f"model file {weights} has SHA-256"):
        verify(text, best, content_hash(text))
    weights.unlink()
    with pytest.raises(ValueError, match="is missing"):
        verify(text, best, content_hash(text))


def test_a_request_is_capped_in_rows_and_characters():
    assert check_request(pd.DataFrame({"question": ["a?", "b?"]})) == ["a?", "b?"]
    for bad, message in [
        (pd.DataFrame({"question": ["q"] * (MAX_QUESTIONS + 1)}), f"at most {MAX_QUESTIONS}"),
        (pd.DataFrame({"question": ["x" * (MAX_QUESTION_CHARS + 1)]}), f"{MAX_QUESTION_CHARS + 1} characters"),
        (pd.DataFrame({"question": ["ok", "  "]}), "question 1: 2 characters"),
        (pd.DataFrame({"query": ["a"]}), "no 'question' column"),
    ]:
        with pytest.raises(MlflowException, match=message) as refused:
            check_request(bad)
        assert refused.value.get_http_status_code() == 400
