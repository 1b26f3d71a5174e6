"""Object-store keys of every artifact: deterministic, derived from partition keys and content
hashes, so re-runs find what earlier runs stored."""

from __future__ import annotations

from dream_assets.hashing import slugify
from dream_assets.plugins.parsers import DEFAULT_PARSER


def source_document_prefix(document_id: str) -> str:
    """Folder of a document's raw file (one file: `source_document_key`)."""
    return f"source_documents/{document_id}"


def source_document_key(document_id: str, name: str) -> str:
    """Raw file of a document, under its file name `name` (its suffix says its format)."""
    return f"{source_document_prefix(document_id)}/{name.rsplit('/', 1)[-1]}"


def _by_parser(folder: str, document_id: str, parser: str) -> str:
    # the default parser's keys are those of the single-parser layout, so stores keep working
    if parser == DEFAULT_PARSER:
        return f"{folder}/{document_id}.json"
    return f"{folder}/{slugify(parser)}/{document_id}.json"


def parsed_document_key(document_id: str, parser: str = DEFAULT_PARSER) -> str:
    """Parsed text of a document by one parser (JSON, `ParsedDocument.to_dict`)."""
    return _by_parser("parsed_documents", document_id, parser)


def quarantine_key(document_id: str, parser: str = DEFAULT_PARSER) -> str:
    """Record of a document that one parser could not read (or that could not be copied), with its
    reason."""
    return _by_parser("quarantine", document_id, parser)


# Beside a synthetic golden set sized to the decision: its rounds and why they stopped.
GOLDEN_SIZING = "sizing.json"


def golden_prefix(version: str) -> str:
    """Folder of one golden-set version (`questions.parquet`, `contexts.parquet`, and for a
    synthetic set `failures.parquet` and, sized to the decision, `GOLDEN_SIZING`)."""
    return f"golden_dataset/{version}"


def aligned_contexts_key(golden_prefix: str, parser: str) -> str:
    """The reference contexts of the golden set at `golden_prefix` aligned into the text of a
    parser other than the one it was built on (that one's are `contexts.parquet`)."""
    return f"{golden_prefix}/contexts.{slugify(parser)}.parquet"


GOLDEN_POINTER = "golden_dataset/current.json"


def corpus_key(corpus: str) -> str:
    """The document ids of a named corpus (`dream_assets.corpus`)."""
    return f"corpora/{corpus}/documents.json"


def watch_key(corpus: str) -> str:
    """The binding of a watched corpus to its source (`dream_assets.corpus.watch_corpus`)."""
    return f"corpora/{corpus}/watch.json"


def corpus_leaderboard_key(corpus: str) -> str:
    """The last leaderboard of a named corpus: its golden version, corpus version, documents."""
    return f"corpora/{corpus}/leaderboard.json"


def golden_pointer(corpus: str = "") -> str:
    """Pointer to the current golden-set version of `corpus` ('': every document partition)."""
    return f"corpora/{corpus}/golden_dataset.json" if corpus else GOLDEN_POINTER


def index_prefix(index_key: str, version: str) -> str:
    """Folder of one persisted embedding index (LlamaIndex storage layout)."""
    return f"embedding_index/{index_key}/{version}"


def index_pointer(index_key: str, corpus: str = "") -> str:
    """Pointer to the current version of an embedding index partition on `corpus` ('': every
    document partition)."""
    if corpus:
        return f"corpora/{corpus}/embedding_index/{index_key}.json"
    return f"embedding_index/{index_key}/current.json"


def trial_key(golden_version: str, config_key: str) -> str:
    """Per-question evaluation table of one configuration on one golden-set version."""
    return f"trial_evaluations/{golden_version}/{config_key}.parquet"


MLFLOW_PENDING_PREFIX = "mlflow_pending"


def mlflow_pending_key(golden_version: str, config_key: str) -> str:
    """A trial record waiting for MLflow to be reachable again (`mlflow_runs.log_trial_run`)."""
    return f"{MLFLOW_PENDING_PREFIX}/{golden_version}/{config_key}.json"


def trial_error_key(golden_version: str, config_key: str) -> str:
    """Record of a configuration's failed trial on one golden-set version (its error)."""
    return f"trial_evaluations/{golden_version}/{config_key}.error.json"


def range_search_prefix(golden_version: str) -> str:
    """Folder of an Optuna range search's per-question tables on one golden-set version."""
    return f"range_search/{golden_version}"


def leaderboard_prefix(golden_version: str) -> str:
    """Folder of the leaderboard (table, plots) of one golden-set version."""
    return f"experiment_leaderboard/{golden_version}"


def judged_key(golden_version: str) -> str:
    """The judge's per-answer table on one golden-set version (`judge_evaluations`)."""
    return f"judge_evaluations/{golden_version}/judged.parquet"


def judge_calibration_key(golden_version: str) -> str:
    """The judge's calibration record on one golden-set version (`judge_evaluations`)."""
    return f"judge_evaluations/{golden_version}/calibration.json"


def best_configuration_prefix(golden_version: str) -> str:
    """Folder of the winning configuration on one golden-set version (`best_rag_configuration.yaml`)."""
    return f"best_rag_configuration/{golden_version}"


def oscar_jsonl_prefix(shard: str) -> str:
    """Folder holding one OSCAR shard file as it came from the source."""
    return f"oscar/jsonl/{shard}"


def oscar_records_prefix(shard: str) -> str:
    """Parquet folder of one shard's kept records."""
    return f"oscar/records/{shard}"


def oscar_rejects_key(shard: str) -> str:
    """Every line of one shard that was not kept, with its reason (Parquet)."""
    return f"oscar/rejects/{shard}.parquet"


def oscar_chunks_prefix(shard: str) -> str:
    """Parquet folder of one shard's chunks."""
    return f"oscar/chunks/{shard}"


def oscar_embeddings_prefix(shard: str) -> str:
    """Parquet folder of one shard's chunks with embeddings (the parent holds only such folders)."""
    return f"oscar/embeddings/{shard}"


def oscar_embeddings_manifest(shard: str) -> str:
    """Model and row count of one shard's embeddings."""
    return f"oscar/manifests/embeddings/{shard}.json"


RERANKER_PAIRS_POINTER = "reranker/pairs/current.json"
RERANKER_POINTER = "reranker/model/current.json"


def reranker_pairs_key(version: str) -> str:
    """Training pairs of the reranker (query, passage, label, split), one version."""
    return f"reranker/pairs/{version}/pairs.parquet"


def reranker_model_prefix(version: str) -> str:
    """Folder of one fine-tuned reranker (sentence-transformers CrossEncoder layout)."""
    return f"reranker/model/{version}"


def query_embeddings_key(golden_version: str, embedding_model: str) -> str:
    """Embeddings of one golden-set version's questions by one embedding model (Parquet:
    `question_id`, `embedding`): computed once, read by every configuration on that model."""
    return f"query_embeddings/{golden_version}/{slugify(embedding_model)}.parquet"


def query_text_cache_key(embedding_model: str) -> str:
    """Every question text one embedding model embedded, by the SHA-256 of the text (Parquet:
    `text_sha256`, `embedding`): a refreshed golden set embeds only its new questions."""
    return f"query_embeddings/by_text/{slugify(embedding_model)}.parquet"
