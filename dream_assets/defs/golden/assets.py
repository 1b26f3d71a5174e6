"""The golden dataset: questions with reference answers and reference contexts.

This slice builds the human set from SQuAD v2.0 (the demo corpus' own questions). Each version is
stored under its content hash, so every evaluation and MLflow run names the exact version it was
scored on.
"""

import json
from pathlib import Path

import dagster as dg

from dream_assets import layout
from dream_assets.defs.documents.assets import parsed_documents, read_parsed_documents
from dream_assets.lib.golden import squad_golden_dataset
from dream_assets.lib.hashing import content_hash
from resources.object_store import ObjectStore

DEMO_SQUAD = Path(__file__).resolve().parents[3] / "data" / "demo" / "squad" / "dev-v2.0.json"


class GoldenDatasetConfig(dg.Config):
    """`squad_path`: SQuAD v2.0 JSON with the questions; `questions_per_document`: seeded sample
    size per document (0 keeps all); `seed`: the sample's seed."""

    squad_path: str = str(DEMO_SQUAD)
    questions_per_document: int = 3
    seed: int = 0


@dg.asset(deps=[parsed_documents], group_name="golden", kinds={"parquet"})
def golden_dataset(
    context: dg.AssetExecutionContext, config: GoldenDatasetConfig, object_store: ObjectStore
) -> dg.MaterializeResult:
    """Human golden set: SQuAD questions aligned to the parsed PDFs
    (`golden_dataset/<version>/questions.parquet` and `contexts.parquet`).

    Columns follow ragas: `user_input`, `reference`, `reference_contexts`, plus
    `reference_context_ids`, `reference_answers`, `question_id`, `document_id`. The version is
    the content hash of both tables; `golden_dataset/current.json` points at it.
    """
    store = object_store.client()
    documents = read_parsed_documents(context.instance, store)
    with open(config.squad_path, encoding="utf-8") as file:
        squad = json.load(file)
    golden = squad_golden_dataset(squad, documents, config.questions_per_document or None, config.seed)
    version = content_hash([golden.questions.to_dict(orient="records"), golden.contexts.to_dict(orient="records")])
    prefix = layout.golden_prefix(version)
    store.write_parquet(f"{prefix}/questions.parquet", golden.questions)
    store.write_parquet(f"{prefix}/contexts.parquet", golden.contexts)
    store.write_json(layout.GOLDEN_POINTER, {"version": version, "prefix": prefix})
    context.log.info("golden set %s: %d questions over %d documents", version, len(golden.questions), len(documents))
    preview = golden.questions[["document_id", "user_input", "reference"]].head(10)
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "uri": store.uri(prefix),
            "questions": len(golden.questions),
            "documents": len(documents),
            "contexts": len(golden.contexts),
            "skipped": golden.skipped,
            "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
        },
        data_version=dg.DataVersion(version),
    )


def read_current_golden(store):
    """Returns (version, questions, contexts) of the current golden set.

    Raises:
        FileNotFoundError: if `golden_dataset` was never materialised.
    """
    pointer = store.read_json(layout.GOLDEN_POINTER)
    prefix = pointer["prefix"]
    return (
        pointer["version"],
        store.read_parquet(f"{prefix}/questions.parquet"),
        store.read_parquet(f"{prefix}/contexts.parquet"),
    )
