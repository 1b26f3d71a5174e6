"""ragas' LLM-judged metrics on the top configurations of the sweep, and the judge's calibration.

Judging every answer of every configuration with a local model would cost more than the sweep
(about 80 s an answer for the five metrics with the bundled Qwen 1.5B on 2 CPUs, measured by
`integration/test_judge.py`), so the judge
scores a seeded sample of the questions every selected configuration answered (the same
questions for each: a paired comparison) of the configurations in tier 1 (those the paired tests
cannot tell from the best), the best `configurations` of them.
"""

import json
import os
import sys
import time

import dagster as dg
import pandas as pd
from pydantic import Field
from tqdm import tqdm

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.evaluation.mlflow_runs import sweep_run, trial_tags
from dream_assets.defs.evaluation.trials import ranked_trials
from dream_assets.defs.metadata import table_asset_metadata, table_metadata
from dream_assets.defs.pods import pod_resources
from dream_assets.defs.readers import read_current_golden
from dream_assets.lib.evaluation.judging import (
    JUDGE_MAX_STRING_CHARS,
    JUDGE_MAX_TOKENS,
    judge_calibration,
    judge_rows,
    judge_summary,
    judged_questions,
    swapped_contexts,
)
from dream_assets.lib.evaluation.tiers import RAGAS_JUDGE_METRICS
from dream_assets.lib.models.bundled import model_problems
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets.package_data import config_file
from dream_assets.search_space import SearchSpace
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.tracking import MlflowTracker

# The judge's calibration against human labels on 100 SQuAD answers, per judge model
# (written by `benchmarks/bench_judge.py --save`), logged beside each run's own figures.
CALIBRATION_FILE = config_file("judge_calibration.json")
# The embedding model ragas' answer relevancy and answer correctness compare with.
JUDGE_EMBEDDING = "all-MiniLM-L6-v2"


class JudgeConfig(dg.Config):
    """What the judge scores, and with which LLM."""

    judge_llm: str = Field(
        default="", description="LLM judging ragas' LLM metrics (bundled name or endpoint); '' judges nothing."
    )
    sample_size: int = Field(
        default=2, ge=1, description="Answered questions judged per configuration, drawn with `seed`."
    )
    configurations: int = Field(
        default=2, ge=1, description="Configurations judged: the best ones of tier 1 (by `rank_by`)."
    )
    rank_by: str = Field(default="mrr", description="The leaderboard's ranking metric, for the tiers.")
    seed: int = Field(default=0, description="Seed of the judged questions.")


@dg.asset(
    deps=["trial_evaluations"],
    group_name="evaluation",
    kinds={"ragas", "mlflow"},
    code_version="1",
    # the bundled judge runs in the step: up to 3 llama.cpp contexts of Qwen 1.5B (about 1 GB each)
    op_tags=pod_resources("2", "6Gi"),
)
def judge_evaluations(
    context: dg.AssetExecutionContext,
    config: JudgeConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    llms: LlmProvider,
    ray_cluster: RayCluster,
    tracker: MlflowTracker,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """Scores ragas' faithfulness, answer relevancy, context precision, context recall and
    answer correctness of the top configurations' answers on the current golden set
    (`judge_evaluations/<golden version>/judged.parquet`, one row per judged answer with
    `judge_failures`), logged on each judged configuration's MLflow run; and the judge's
    calibration (`calibration.json`): on the judged answers, Spearman's rho of answer
    correctness with SQuAD token F1 and the AUROC of faithfulness against the same answers given
    another question's contexts; with the judge model's reference calibration on 100 SQuAD
    answers (`config/judge_calibration.json`), when measured. Without `judge_llm` the previous
    scores are removed and nothing is judged. The judge's requests go through the LLM gateway
    with its `config/llms.yaml` rate limit, retries and prices (its spend per configuration is
    `judge_cost_usd`, counted in the leaderboard's `cost_usd`); responses are cached in the
    scratch directory, so a re-run judges only what it has not.

    Raises:
        ValueError: when the judge cannot load here (not bundled, no endpoint).
    """
    store = object_store.client()
    golden_version, _, _ = read_current_golden(store, corpus_of(context))
    if not config.judge_llm:  # nothing to judge: earlier scores go
        store.delete(layout.judged_key(golden_version).rsplit("/", 1)[0])
        return dg.MaterializeResult(metadata={"judged": 0, "judge_llm": "(none)"})
    problems = model_problems([], [config.judge_llm], llms.api_base, llms.served_by_providers())
    if problems:
        raise ValueError(f"the judge cannot start: {'; '.join(problems)}")
    table, tables = ranked_trials(store, golden_version, config.rank_by, search_space.configs_by_key)
    chosen = _chosen(table, config.configurations)
    question_ids = judged_questions({key: tables[key] for key in chosen}, config.sample_size, config.seed)
    if not question_ids:  # no successful trial, or no question every chosen one answered
        store.delete(layout.judged_key(golden_version).rsplit("/", 1)[0])
        context.log.warning("nothing to judge: no question answered by every one of %s", chosen or "(no trial)")
        return dg.MaterializeResult(metadata={"judged": 0, "judge_llm": config.judge_llm, "configurations": ""})
    rows = _rows(tables, chosen, question_ids)
    context.log.info("judging %d answers of %s with %s", len(rows), ", ".join(chosen), config.judge_llm)
    judge = _judge(llms, config.judge_llm, ray_cluster.scratch_dir)
    embed_model = make_embedding(embeddings.settings_for(JUDGE_EMBEDDING))
    started = time.perf_counter()
    # every (metric, answer) scored, then each answer's faithfulness against another's contexts
    with tqdm(total=len(rows) * (len(RAGAS_JUDGE_METRICS) + 1), desc="judge", unit="score", file=sys.stderr) as bar:
        judged = judge_rows(rows, judge, embed_model, on_scored=bar.update)
        swapped = judge_rows(
            rows, judge, embed_model, ["faithfulness"], contexts=swapped_contexts(rows), on_scored=bar.update
        )
    seconds = time.perf_counter() - started
    calibration = {
        "judge_llm": config.judge_llm,
        "this_run": judge_calibration(judged, swapped),
        "reference": _reference_calibration(config.judge_llm),
    }
    store.write_parquet(layout.judged_key(golden_version), judged)
    store.write_json(layout.judge_calibration_key(golden_version), calibration)
    summary = judge_summary(judged)
    _log_runs(tracker, summary, golden_version, corpus_of(context))
    metadata = _metadata(config.judge_llm, chosen, judged, summary, judge, seconds / max(len(judged), 1), calibration)
    return dg.MaterializeResult(metadata=metadata)


def _metadata(judge_llm: str, chosen, judged, summary, judge, seconds_per_answer: float, calibration: dict) -> dict:
    """The asset's metadata: what was judged, how fast, the judge's usage through its LLM
    gateway (calls, cache hits, tokens, cost), coverage per metric, the calibration and the
    per-configuration scores."""
    usage = judge.gateway.usage
    return {
        "judge_llm": judge_llm,
        "configurations": ", ".join(chosen),
        "judged": len(judged),
        "seconds_per_answer": round(seconds_per_answer, 1),
        "llm_calls": judge.calls,
        "llm_cache_hits": usage.cache_hits,
        "judge_tokens": usage.prompt_tokens + usage.completion_tokens,
        "judge_cost_usd": round(usage.cost_usd, 6),
        "coverage": dg.MetadataValue.json(
            {name: round(float(judged[name].notna().mean()), 3) for name in RAGAS_JUDGE_METRICS}
        ),
        "calibration": dg.MetadataValue.json(json.loads(json.dumps(calibration, default=str))),
        "scores": table_metadata(summary),
        **table_asset_metadata(judged),
    }


def _rows(tables: dict[str, pd.DataFrame], chosen: list[str], question_ids: list[str]) -> pd.DataFrame:
    """The judged questions' rows of each chosen configuration's table, with its `config_key`."""
    parts = [tables[key][tables[key]["question_id"].isin(question_ids)].assign(config_key=key) for key in chosen]
    return pd.concat(parts, ignore_index=True)


def _chosen(table: pd.DataFrame, count: int) -> list[str]:
    """The best `count` configuration keys of tier 1 (all successful ones when there are no
    tiers), in rank order."""
    ok = table[table["status"] == "ok"]
    if "tier" in ok and ok["tier"].notna().any():
        ok = ok[ok["tier"] == 1]
    return ok["config_key"].head(count).tolist()


def _judge(llms: LlmProvider, name: str, scratch_dir: str):
    """The grammar-constrained ragas judge, its responses cached under `scratch_dir`, a local
    model on up to 8 of the cores this process may use."""
    from dream_assets.lib.llm.ragas_llm import make_ragas_llm

    # the judge runs alone, after the sweep: every core of this process' allowance
    threads = min(len(os.sched_getaffinity(0)), 8)
    settings = llms.settings_for(name).model_copy(update={"max_tokens": JUDGE_MAX_TOKENS, "n_threads": threads})
    return make_ragas_llm(settings, f"{scratch_dir}/judge_cache", max_string_chars=JUDGE_MAX_STRING_CHARS)


def _reference_calibration(judge_llm: str) -> dict:
    """The judge model's calibration measured by `benchmarks/bench_judge.py` ({} if none)."""
    if not CALIBRATION_FILE.exists():
        return {}
    return json.loads(CALIBRATION_FILE.read_text()).get(judge_llm, {})


def _log_runs(tracker: MlflowTracker, summary: pd.DataFrame, golden_version: str, corpus: str) -> None:
    """Logs each judged configuration's judge metrics on its MLflow trial run."""
    parent = sweep_run(tracker, golden_version, corpus)
    for row in summary.to_dict("records"):
        key = str(row.pop("config_key"))
        run_id = tracker.find_or_create_run(key, trial_tags(key, golden_version, corpus), parent)
        tracker.log_trial(
            run_id, {}, {str(name): float(value) for name, value in row.items() if isinstance(value, int | float)}
        )
        tracker.finish(run_id)
