"""ragas' LLM-judged metrics (`dream_assets.lib.judging`) on real SQuAD questions: through the
bundled Qwen 1.5B judge, every metric is scored (grammar-constrained output); against a judge
that never returns parsable output (a real HTTP server speaking the OpenAI chat API), every
judged metric is NaN and recorded per question."""

import json

import pandas as pd
import pytest

from dream_assets.defs.golden.assets import DEMO_SQUAD
from dream_assets.lib.evaluation import RAGAS_JUDGE_METRICS
from dream_assets.lib.judging import JUDGE_MAX_STRING_CHARS, JUDGE_MAX_TOKENS, judge_rows, judge_summary
from dream_assets_tests.servers import start_openai_stub
from resources.embeddings import EmbeddingProvider, make_embedding
from resources.llm import LlmProvider, LlmSettings
from resources.ragas_llm import make_ragas_llm

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


def _embed_model(models_dir):
    return make_embedding(EmbeddingProvider(models_dir=str(models_dir)).settings_for("all-MiniLM-L6-v2"))


def test_the_bundled_judge_scores_every_metric_on_real_squad_answers(models_dir):
    settings = LlmProvider(models_dir=str(models_dir)).settings_for("qwen2.5-coder-1.5b-instruct")
    judge = make_ragas_llm(
        settings.model_copy(update={"max_tokens": JUDGE_MAX_TOKENS}), max_string_chars=JUDGE_MAX_STRING_CHARS
    )
    judged = judge_rows(_answered(2).assign(config_key="k"), judge, _embed_model(models_dir))
    summary = judge_summary(judged).iloc[0]
    for name in RAGAS_JUDGE_METRICS:
        assert summary[f"{name}_coverage"] >= 0.9, (name, judged[name].tolist())
        assert judged[name].dropna().between(0, 1).all(), name
    # no NaN without its metric named in the row's judge_failures
    for _, row in judged.iterrows():
        assert {name for name in RAGAS_JUDGE_METRICS if pd.isna(row[name])} == set(
            filter(None, row["judge_failures"].split(","))
        )
    assert judge.calls > 0 and (judged["judge_seconds"] > 0).all()


def test_a_judge_that_returns_garbage_leaves_nan_and_a_record_per_question(models_dir):
    stub = start_openai_stub(lambda body: (200, "Sure! The answer looks right to me."))
    try:
        judge = make_ragas_llm(
            LlmSettings(name="judge", provider="openai", model="judge", api_base=stub.url, max_tokens=64)
        )
        judged = judge_rows(_answered(2).assign(config_key="k"), judge, _embed_model(models_dir))
    finally:
        stub.stop()
    assert judged[RAGAS_JUDGE_METRICS].isna().all().all()
    assert judged["judge_failures"].tolist() == [",".join(RAGAS_JUDGE_METRICS)] * 2
    assert len(stub.requests) > 2 * len(RAGAS_JUDGE_METRICS)  # ragas asked again before giving up
    summary = judge_summary(judged).iloc[0]
    assert summary["faithfulness_coverage"] == 0.0 and summary["faithfulness_n"] == 0
