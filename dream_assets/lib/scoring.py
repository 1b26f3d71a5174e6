"""ragas' metrics on a trial's per-question table: ID-based context precision and recall on every
retrieved question and semantic similarity on every answered one. The LLM-judged metrics are
scored apart, on the top configurations (`dream_assets.lib.judging`)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from llama_index.core.base.embeddings.base import BaseEmbedding

from dream_assets.lib.evaluation import RAGAS_EMBEDDING_METRICS, RAGAS_RETRIEVAL_METRICS


def ragas_scores(table: pd.DataFrame, embed_model: BaseEmbedding, seed: int = 0) -> pd.DataFrame:
    """Adds the ragas metric columns to a per-question table (`retrieve_questions` rows, the
    answered ones merged in from `answer_questions`).

    `id_based_context_precision` and `id_based_context_recall` are scored on every row;
    `semantic_similarity` on every answered row (`generated`, no `error`; a table without a
    `generated` column counts as answered). Other rows get NaN (`summarize` reports each
    metric's `n`).
    """
    from ragas import EvaluationDataset, evaluate
    from ragas.embeddings import LlamaIndexEmbeddingsWrapper
    from ragas.run_config import RunConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import IDBasedContextPrecision, IDBasedContextRecall, SemanticSimilarity

        embeddings = LlamaIndexEmbeddingsWrapper(embed_model)
        scored = table.copy()
        for name in RAGAS_EMBEDDING_METRICS:
            scored[name] = np.nan
        if scored.empty:
            return scored
        run_config = RunConfig(max_workers=1, timeout=120, max_retries=2, seed=seed)
        retrieved = evaluate(
            EvaluationDataset.from_list([_sample(row) for _, row in scored.iterrows()]),
            metrics=[IDBasedContextPrecision(), IDBasedContextRecall()],
            run_config=run_config,
            raise_exceptions=False,
            show_progress=False,
        ).to_pandas()
        for name in RAGAS_RETRIEVAL_METRICS:
            scored[name] = retrieved[name].to_numpy(dtype=float)
        generated = scored["generated"].astype(bool) if "generated" in scored else True
        ok = scored.index[generated & (scored["error"] == "")]
        if len(ok) == 0:
            return scored
        similarity = evaluate(
            EvaluationDataset.from_list([_sample(scored.loc[i]) for i in ok]),
            metrics=[SemanticSimilarity()],
            embeddings=embeddings,
            run_config=run_config,
            raise_exceptions=False,
            show_progress=False,
        ).to_pandas()
        scored.loc[ok, "semantic_similarity"] = similarity["semantic_similarity"].to_numpy(dtype=float)
    return scored


def _sample(row: pd.Series) -> dict:
    return {
        "user_input": row["user_input"],
        "response": row.get("response", ""),
        "reference": row["reference"],
        "retrieved_contexts": list(row["retrieved_contexts"]),
        "reference_contexts": list(row["reference_contexts"]),
        "retrieved_context_ids": list(row["retrieved_context_ids"]),
        "reference_context_ids": list(row["reference_context_ids"]),
    }
