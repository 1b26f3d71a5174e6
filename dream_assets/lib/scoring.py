"""ragas' metrics on a trial's per-question table: ID-based context precision and recall on every
retrieved question, semantic similarity on every answered one, and the LLM-judged metrics on a
seeded sample of the answered ones."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import LLM

from dream_assets.lib.evaluation import RAGAS_EMBEDDING_METRICS, RAGAS_JUDGE_METRICS, RAGAS_RETRIEVAL_METRICS


def ragas_scores(
    table: pd.DataFrame,
    embed_model: BaseEmbedding,
    judge_llm: LLM | None = None,
    judge_sample_size: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Adds the ragas metric columns to a per-question table (`retrieve_questions` rows, the
    answered ones merged in from `answer_questions`).

    `id_based_context_precision` and `id_based_context_recall` are scored on every row;
    `semantic_similarity` on every answered row (`generated`, no `error`; a table without a
    `generated` column counts as answered); the LLM-judged ones on `judge_sample_size` answered
    rows drawn with `seed`, when `judge_llm` is given. Other rows get NaN (`summarize` reports
    each metric's `n`). A sample the judge cannot score after ragas' retries (`RunConfig`: 2
    retries with backoff; malformed output also gets ragas' fix-format prompt) is NaN, not an
    error, and its row's `judge_failures` names the metrics that failed (comma-separated; ''
    when all were scored or the row was not in the sample).
    """
    from ragas import EvaluationDataset, evaluate
    from ragas.embeddings import LlamaIndexEmbeddingsWrapper
    from ragas.llms import LlamaIndexLLMWrapper
    from ragas.run_config import RunConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import (
            AnswerCorrectness,
            Faithfulness,
            IDBasedContextPrecision,
            IDBasedContextRecall,
            LLMContextPrecisionWithReference,
            LLMContextRecall,
            ResponseRelevancy,
            SemanticSimilarity,
        )

        embeddings = LlamaIndexEmbeddingsWrapper(embed_model)
        scored = table.copy()
        for name in RAGAS_EMBEDDING_METRICS + RAGAS_JUDGE_METRICS:
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
        if judge_llm is None or judge_sample_size <= 0:
            return scored
        sample_index = pd.Index(ok).to_series().sample(min(judge_sample_size, len(ok)), random_state=seed).sort_values()
        judged = evaluate(
            EvaluationDataset.from_list([_sample(scored.loc[i]) for i in sample_index]),
            metrics=[
                Faithfulness(),
                ResponseRelevancy(strictness=1),
                LLMContextPrecisionWithReference(),
                LLMContextRecall(),
                AnswerCorrectness(),
            ],
            llm=LlamaIndexLLMWrapper(judge_llm),
            embeddings=embeddings,
            run_config=run_config,
            raise_exceptions=False,
            show_progress=False,
        ).to_pandas()
    renamed = judged.rename(columns={"llm_context_precision_with_reference": "context_precision"})
    for name in RAGAS_JUDGE_METRICS:
        if name in renamed:
            scored.loc[sample_index.to_numpy(), name] = renamed[name].to_numpy(dtype=float)
    # the judge's failures, per question: metrics ragas could not score after its retries
    scored["judge_failures"] = ""
    for i in sample_index:
        failed = [name for name in RAGAS_JUDGE_METRICS if pd.isna(scored.at[i, name])]
        scored.at[i, "judge_failures"] = ",".join(failed)
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
