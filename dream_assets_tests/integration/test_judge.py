"""ragas' LLM-judged metrics against a judge that never returns parsable output (a real HTTP
server speaking the OpenAI chat API): every judged metric is NaN, recorded per question, and the
embedding metrics are still scored."""

import json

import pandas as pd
import pytest

from dream_assets.defs.golden.assets import DEMO_SQUAD
from dream_assets.lib.evaluation import RAGAS_JUDGE_METRICS
from dream_assets.lib.scoring import ragas_scores
from dream_assets.lib.summary import summarize
from dream_assets_tests.servers import start_openai_stub
from resources.embeddings import EmbeddingProvider, make_embedding
from resources.llm import LlmSettings, make_llm

pytestmark = pytest.mark.integration


def _answered(count: int) -> pd.DataFrame:
    """Answered rows built from SQuAD's Normans questions: the reference answer as the response,
    the question's paragraph as the one retrieved context."""
    squad = json.loads(DEMO_SQUAD.read_text())
    rows = []
    for article in squad["data"]:
        if article["title"] != "Normans":
            continue
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                if qa["answers"] and len(rows) < count:
                    context, answer = paragraph["context"], qa["answers"][0]["text"]
                    rows.append(
                        {
                            "question_id": qa["id"],
                            "user_input": qa["question"],
                            "response": answer,
                            "reference": answer,
                            "retrieved_contexts": [context],
                            "reference_contexts": [context],
                            "retrieved_context_ids": [f"p{p}"],
                            "reference_context_ids": [f"p{p}"],
                            "error": "",
                            "prompt_tokens": 0,
                            "completion_tokens": 0,
                            "retrieval_latency_s": 0.0,
                            "generation_latency_s": 0.0,
                        }  # fmt: skip
                    )
    return pd.DataFrame(rows)


def test_a_judge_that_returns_garbage_leaves_nan_and_a_record_per_question(models_dir):
    stub = start_openai_stub(lambda body: (200, "Sure! The answer looks right to me."))
    try:
        judge = make_llm(LlmSettings(name="judge", provider="openai", model="judge", api_base=stub.url, max_tokens=64))
        embed_model = make_embedding(EmbeddingProvider(models_dir=str(models_dir)).settings_for("all-MiniLM-L6-v2"))
        scored = ragas_scores(_answered(3), embed_model, judge, judge_sample_size=2, seed=0)
    finally:
        stub.stop()
    assert (scored["semantic_similarity"] > 0.99).all()  # response == reference
    assert scored[RAGAS_JUDGE_METRICS].isna().all().all()
    failures = scored["judge_failures"].tolist()
    assert sorted(failures) == ["", ",".join(RAGAS_JUDGE_METRICS), ",".join(RAGAS_JUDGE_METRICS)]
    assert len(stub.requests) > 2 * len(RAGAS_JUDGE_METRICS)  # ragas asked again before giving up
    summary = summarize(scored)
    assert summary["judge_failures"] == 2 and summary["faithfulness_coverage"] == 0.0
    assert summary["semantic_similarity_coverage"] == 1.0
