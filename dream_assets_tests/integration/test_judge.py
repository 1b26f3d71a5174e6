"""ragas' LLM-judged metrics (`dream_assets.lib.evaluation.judging`) on real SQuAD questions: through the
smallest bundled judge (Qwen 0.5B: the same llama.cpp grammars from ragas' response models as the
1.5B one `--full-evidence` uses, in a third of the time), every metric is scored; against a judge
that never returns parsable output (a real HTTP server speaking the OpenAI chat API), every
judged metric is NaN and recorded per question; against one that answers in the requested
schema, every request goes through the LLM gateway (rate limiter, cache, prices), and ragas
warns of no deprecation on the way."""

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from dream_assets.defs.golden.assets import DEMO_SQUAD
from dream_assets.lib.evaluation.judging import JUDGE_MAX_STRING_CHARS, JUDGE_MAX_TOKENS, judge_rows, judge_summary
from dream_assets.lib.evaluation.tiers import RAGAS_JUDGE_METRICS
from dream_assets.lib.llm.ragas_llm import make_ragas_llm
from dream_assets.lib.llm.rate_limit import RateLimiter
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets.plugins.llm_providers import LlmSettings
from dream_assets_tests.servers import start_openai_stub, start_schema_llm
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider

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
    settings = LlmProvider(models_dir=str(models_dir)).settings_for("qwen2.5-coder-0.5b-instruct")
    judge = make_ragas_llm(
        settings.model_copy(update={"max_tokens": JUDGE_MAX_TOKENS}), max_string_chars=JUDGE_MAX_STRING_CHARS
    )
    # one answer, every metric: about a minute on 2 CPUs (the 1.5B judge: about 3)
    steps = []
    judged = judge_rows(
        _answered(1).assign(config_key="k"), judge, _embed_model(models_dir), on_scored=lambda: steps.append(1)
    )
    assert len(steps) == len(RAGAS_JUDGE_METRICS)  # the judge's progress bar moves once a score
    summary = judge_summary(judged).iloc[0]
    for name in RAGAS_JUDGE_METRICS:
        assert summary[f"{name}_coverage"] == 1.0, (name, judged[name].tolist())
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
        settings = LlmSettings(name="judge", provider="openai", model="judge", api_base=stub.url, max_tokens=64)
        judge = make_ragas_llm(settings.model_copy(update={"backoff_s": 0.0}))
        judged = judge_rows(_answered(2).assign(config_key="k"), judge, _embed_model(models_dir))
    finally:
        stub.stop()
    assert judged[RAGAS_JUDGE_METRICS].isna().all().all()
    assert judged["judge_failures"].tolist() == [",".join(RAGAS_JUDGE_METRICS)] * 2
    assert len(stub.requests) > 2 * len(RAGAS_JUDGE_METRICS)  # the gateway asked again before giving up
    summary = judge_summary(judged).iloc[0]
    assert summary["faithfulness_coverage"] == 0.0 and summary["faithfulness_n"] == 0


def _schema_judge():
    """An OpenAI-compatible judge (real HTTP) answering each request in its `response_format`
    schema, 10 prompt and 5 completion tokens a call."""
    return start_schema_llm()


def test_the_judge_is_rate_limited_priced_and_served_from_the_cache_on_a_rerun(models_dir, tmp_path):
    stub, booked = _schema_judge(), []
    limiter = RateLimiter(requests_per_minute=6000)

    def reserve(tokens: int) -> float:
        booked.append(tokens)
        return limiter.reserve(tokens)

    settings = LlmSettings(
        name="judge", provider="openai", model="judge", api_base=stub.url, max_tokens=64,
        input_usd_per_mtok=1.0, output_usd_per_mtok=2.0,
    )  # fmt: skip
    rows, embed_model = _answered(2).assign(config_key="k"), _embed_model(models_dir)
    try:
        judge = make_ragas_llm(settings, str(tmp_path / "cache"), reserve=reserve)
        first = judge_rows(rows, judge, embed_model)
        sent = len(stub.requests)
        rerun = make_ragas_llm(settings, str(tmp_path / "cache"), reserve=reserve)
        again = judge_rows(rows, rerun, embed_model)
    finally:
        stub.stop()
    assert first[RAGAS_JUDGE_METRICS].notna().all().all()
    # every request that reached the judge was booked with the rate limiter first
    assert sent > 0 and judge.calls == sent and len(booked) == sent and first["judge_calls"].sum() == sent
    # 10 prompt tokens at $1/M and 5 completion tokens at $2/M per request, cache hits included
    assert judge.gateway.usage.cost_usd == pytest.approx(judge.requests * 20e-6)
    assert first["judge_cost_usd"].sum() == pytest.approx(judge.gateway.usage.cost_usd)
    assert judge_summary(first).iloc[0]["judge_cost_usd"] == pytest.approx(judge.gateway.usage.cost_usd)
    # the re-run asks nothing: every request served from the cache, none booked
    assert len(stub.requests) == sent and len(booked) == sent
    assert rerun.calls == 0 and rerun.gateway.usage.cache_hits == rerun.requests == judge.requests
    assert (again["judge_calls"] == 0).all() and again["judge_cost_usd"].sum() == pytest.approx(
        first["judge_cost_usd"].sum()
    )
    pd.testing.assert_frame_equal(again[RAGAS_JUDGE_METRICS], first[RAGAS_JUDGE_METRICS])


def test_ragas_warns_of_no_deprecation_on_any_path_dream_takes(models_dir):
    """Scoring, judging and a synthetic question through ragas in a fresh interpreter that turns
    every DeprecationWarning into an error."""
    script = textwrap.dedent(
        f"""
        import json
        import pandas as pd
        from dream_assets.lib.evaluation.judging import judge_rows
        from dream_assets.lib.evaluation.scoring import ragas_scores
        from dream_assets.lib.golden.synthetic_prompts import query_answer_prompt
        from dream_assets_tests.integration.test_judge import _answered, _embed_model, _schema_judge
        from resources.llm import LlmSettings
        from dream_assets.lib.llm.ragas_llm import make_ragas_llm

        rows, embed_model = _answered(2), _embed_model({str(models_dir)!r})
        scored = ragas_scores(rows.assign(generated=True), embed_model)
        stub = _schema_judge()
        judge = make_ragas_llm(LlmSettings(name="j", provider="openai", model="j", api_base=stub.url))
        judged = judge_rows(rows, judge, embed_model)
        prompt = query_answer_prompt()
        import asyncio
        asyncio.run(prompt.generate(judge, prompt.examples[0][0]))
        stub.stop()
        print(json.dumps([int(scored["semantic_similarity"].notna().sum()), int(judged["faithfulness"].notna().sum())]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, 2]
