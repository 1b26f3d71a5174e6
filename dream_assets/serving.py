"""The winner, deployable: the best RAG configuration as a file, and an MLflow `pyfunc` model
that answers questions with it.

`BestConfiguration` is what `best_rag_configuration` writes (YAML) and what the model loads:
the search-space entry, the index version it was scored on, the embedding model and LLM with the
SHA-256 of their files, the corpus and golden-set versions, and its metrics with their intervals.
`RagModel.predict` answers through the same code a trial does (`retrieval.Retriever`, then
`generation.rag_answer`), so a golden question gets the trial's contexts and, with the same LLM
cache or a deterministic LLM (temperature 0), the trial's answer. `mlflow models serve` serves it
(`dream serve`): POST `{"dataframe_records": [{"question": "..."}]}` to `/invocations`; add
`"params": {"return_contexts": true}` for the texts the LLM read.

Serving exactly what was chosen: `dream serve` passes the configuration hash the registry recorded
for the version it serves (`dream.configuration_hash`, set by DREAM when it registered the
winner) in `CONFIGURATION_HASH_ENV`; the model refuses to load when its configuration file hashes
otherwise, or when a model file (embedding weights, GGUF) differs from the SHA-256 recorded at
selection (`verify`). A request is capped at `MAX_QUESTIONS` rows of at most
`MAX_QUESTION_CHARS` characters each.

Secrets never reach the file: the object store's and the vector store's credentials are read
from the serving process' environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`DREAM_PG_DSN`), like the LLM's key (`LlmSettings.api_key_env`).
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import yaml
from pydantic import BaseModel

from dream_assets.lib.golden.squad import MAX_QUESTION_CHARS
from dream_assets.lib.models.split_gguf import sha256_file
from dream_assets.lib.retrieval.index_spec import IndexSpec
from dream_assets.plugins.llm_providers import LlmSettings
from dream_assets.rag_config import RagConfig
from dream_assets.settings import settings

CONFIGURATION_ARTIFACT = "best_rag_configuration"
# The registry's `dream.configuration_hash` of the version served, set by `dream serve`.
CONFIGURATION_HASH_ENV = "DREAM_CONFIGURATION_HASH"
# Rows per request: a request answers a few questions, each an LLM call of seconds on a CPU.
# Characters per question: the golden set's limit (`dream_assets.lib.golden.squad`).
MAX_QUESTIONS = 32
# Secret-bearing fsspec storage options, read from the environment where the model is served.
_SECRET_OPTIONS = ("key", "secret", "token")


class BestConfiguration(BaseModel):
    """The winning configuration of one leaderboard, with everything needed to rebuild it.

    Attributes:
        corpus: corpus name ('' for every document partition) and `corpus_version` (hash of
            its documents' SHA-256s).
        golden_version: the golden set it was selected (and held-out scored) on.
        config: the search-space entry; `config_key` its partition key.
        index: how to open its embedding index (version in `index.index_prefix`).
        llm: the answering LLM (no key).
        reranker: object-store prefix of the fine-tuned cross-encoder, '' for none.
        model_files: SHA-256 of each local model file (embedding model weights, GGUF), by path.
        metrics: each leaderboard column of the winner (`mrr`, `mrr_ci95_low`, `mrr_n`,
            `held_out/mrr`, ..., `tier`).
        llm_cache_dir: LLM answer cache to answer from ('' for none).
    """

    corpus: str
    corpus_version: str
    golden_version: str
    config_key: str
    config: RagConfig
    index: IndexSpec
    llm: LlmSettings
    reranker: str = ""
    model_files: dict[str, str] = {}
    metrics: dict[str, float | int | str] = {}
    llm_cache_dir: str = ""

    def to_yaml(self) -> str:
        """The configuration as YAML, storage credentials left out."""
        data = self.model_dump(mode="json")
        options = data["index"]["object_store"]["storage_options"]
        for name in _SECRET_OPTIONS:
            options.pop(name, None)
        data["index"]["vector_store"].pop("dsn", None)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str) -> BestConfiguration:
        """Reads `to_yaml`'s output, credentials from the environment (see the module docstring).

        Raises:
            pydantic.ValidationError: naming the field, if the file is not such a configuration.
        """
        data = yaml.safe_load(text)
        store = data["index"]["object_store"]
        if str(store["root"]).startswith("s3://") and os.environ.get("AWS_ACCESS_KEY_ID"):
            store.setdefault("storage_options", {}).update(
                key=os.environ["AWS_ACCESS_KEY_ID"], secret=os.environ.get("AWS_SECRET_ACCESS_KEY")
            )
        if data["index"].get("vector_store", {}).get("kind") == "pgvector":
            dsn = settings().pg_dsn
            data["index"]["vector_store"]["dsn"] = dsn.get_secret_value() if dsn else None
        return cls.model_validate(data)


def model_file_hashes(paths: list[str]) -> dict[str, str]:
    """SHA-256 of each file of `paths` (a file, or every file under a directory); names that are
    not local paths (a Hugging Face id, a served model's name) are left out."""
    hashes = {}
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
        for file in files:
            hashes[str(file)] = sha256_file(file)
    return hashes


def verify(text: str, best: BestConfiguration, expected_hash: str | None) -> None:
    """Checks that the configuration file `text` is the one the registry recorded
    (`expected_hash`, `dream_assets.hashing.content_hash` of the text; None skips this check)
    and that each local model file of `best.model_files` has its recorded SHA-256.

    Raises:
        ValueError: naming the file whose hash differs (or that is missing).
    """
    from dream_assets.hashing import content_hash

    if expected_hash is not None and (actual := content_hash(text)) != expected_hash:
        raise ValueError(
            f"refusing to serve: the configuration file hashes {actual}, the registry recorded {expected_hash}"
            f" for this version ({CONFIGURATION_HASH_ENV})"
        )
    for path, digest in best.model_files.items():
        if not Path(path).is_file():
            raise ValueError(f"refusing to serve: model file {path} (SHA-256 {digest[:12]}...) is missing")
        if (actual := sha256_file(Path(path))) != digest:
            raise ValueError(
                f"refusing to serve: model file {path} has SHA-256 {actual[:12]}..., the winner was chosen"
                f" with {digest[:12]}..."
            )


def check_request(model_input: pd.DataFrame) -> list[str]:
    """The questions of a request, as strings.

    Raises:
        mlflow.exceptions.MlflowException: (HTTP 400) for a request without a `question`
            column, with more than `MAX_QUESTIONS` rows, or with an empty question or one longer
            than `MAX_QUESTION_CHARS`, naming the row.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    def refuse(message: str) -> MlflowException:
        return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)

    if "question" not in model_input:
        raise refuse(f"the request has no 'question' column (columns: {list(model_input.columns)})")
    if len(model_input) > MAX_QUESTIONS:
        raise refuse(f"{len(model_input)} questions in one request: at most {MAX_QUESTIONS}")
    questions = model_input["question"].astype(str).tolist()
    for row, question in enumerate(questions):
        if not question.strip() or len(question) > MAX_QUESTION_CHARS:
            raise refuse(f"question {row}: {len(question)} characters, expected 1 to {MAX_QUESTION_CHARS}")
    return questions


class RagModel(mlflow.pyfunc.PythonModel):
    """The winning RAG configuration as an MLflow model.

    Input: a DataFrame with a `question` column (one row per question, at most
    `MAX_QUESTIONS`, each at most `MAX_QUESTION_CHARS` characters); params: `return_contexts`
    (default false). Output: a DataFrame, one row per question: `question`, `answer` (empty when
    generation failed, with `error`), `context_ids` (the index's node ids, rank order),
    `context_scores` (the retriever's scores) and `contexts` (the texts the LLM read, with
    `return_contexts`; else empty).
    """

    def load_context(self, context) -> None:
        """Verifies the configuration artifact and the model files (`verify`), then opens the
        index and the LLM it names.

        Raises:
            ValueError: if a hash differs (see `verify`).
        """
        from dream_assets.lib.llm.generation import answer_stop
        from dream_assets.lib.llm.settings import make_llm
        from dream_assets.lib.retrieval.index_spec import load_retriever
        from dream_assets.lib.retrieval.rerankers import open_reranker
        from dream_assets.lib.stores.object_store import ObjectStoreClient

        text = Path(context.artifacts[CONFIGURATION_ARTIFACT]).read_text(encoding="utf-8")
        self.best = BestConfiguration.from_yaml(text)
        verify(text, self.best, os.environ.get(CONFIGURATION_HASH_ENV))
        config = self.best.config
        store = ObjectStoreClient(self.best.index.object_store)
        reranker = open_reranker(config.reranker, store, self.best.index.scratch_dir, source=self.best.reranker)
        self.retriever = load_retriever(self.best.index, config.top_k, reranker, config.retriever)
        self.llm = make_llm(self.best.llm, stop=answer_stop(self.best.llm))

    def predict(  # pyright: ignore[reportIncompatibleMethodOverride] - MLflow reads the type hints
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        """Answers each question of `model_input["question"]`; the contexts' texts with
        `params["return_contexts"]`.

        Raises:
            mlflow.exceptions.MlflowException: for a request `check_request` refuses.
        """
        import contextlib

        from dream_assets.lib.llm.failures import GenerationError
        from dream_assets.lib.llm.generation import rag_answer

        questions = check_request(model_input)
        return_contexts = bool((params or {}).get("return_contexts", False))
        rows = []
        with contextlib.ExitStack() as stack:
            cache = None
            if self.best.llm_cache_dir:
                from dream_assets.lib.response_cache import ResponseCache

                cache = stack.enter_context(ResponseCache(self.best.llm_cache_dir))
            for question in questions:
                retrieved = self.retriever.retrieve(question)
                texts = [item.text for item in retrieved]
                answer, error = "", ""
                try:
                    answer = rag_answer(self.llm, self.best.llm, question, texts, cache).response
                except GenerationError as failure:
                    error = str(failure)
                rows.append(
                    {
                        "question": question,
                        "answer": answer,
                        "error": error,
                        "context_ids": [item.node_id for item in retrieved],
                        "context_scores": [float(item.score) for item in retrieved],
                        "contexts": texts if return_contexts else [],
                    }
                )
        return pd.DataFrame(rows)


def model_signature():
    """The model's input, output and params schema (MLflow `ModelSignature`)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "question")]),
        outputs=Schema(
            [
                ColSpec("string", "question"),
                ColSpec("string", "answer"),
                ColSpec("string", "error"),
                ColSpec(Array("string"), "context_ids"),
                ColSpec(Array("double"), "context_scores"),
                ColSpec(Array("string"), "contexts"),
            ]
        ),
        params=ParamSchema([ParamSpec("return_contexts", "boolean", False)]),
    )


def registered_model_name(corpus: str) -> str:
    """The MLflow registered-model name of a corpus' winner (`dream-<corpus>`; `dream` for '')."""
    return f"dream-{corpus}" if corpus else "dream"
