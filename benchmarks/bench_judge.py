"""The bundled judge checked against humans, on the answers a `make demo` left (its trial tables
under DREAM_HOME): ragas `answer_correctness` against SQuAD token F1 (Spearman's rho), and ragas
`faithfulness` on each real (answer, retrieved contexts) pair against the same answer given
another question's contexts, which do not support it (AUROC: the share of (real, swapped) pairs
the judge orders correctly, ties counting half; Mann-Whitney U / (n x m)). Also each metric's
coverage (scored / attempted) and the judge's seconds per answer.

Same path as a trial (`dream_assets.lib.scoring`): ragas `evaluate` through its LlamaIndex wrapper.
Usage: python benchmarks/bench_judge.py [--answers 20] [--judge qwen2.5-coder-0.5b-instruct]
"""

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("DREAM_HOME", ROOT / ".dream"))


def answered_rows(count: int, seed: int) -> pd.DataFrame:
    """`count` answers drawn with `seed` from every trial table of the newest golden set (the
    configurations answer the same sampled questions, each from its own contexts; an answer
    given word for word by two configurations counts once)."""
    tables = sorted((STATE / "object_store" / "trial_evaluations").glob("*/*.parquet"), key=lambda p: p.stat().st_mtime)
    if not tables:
        raise SystemExit(f"no trial tables under {STATE}: run `make demo` first")
    newest = tables[-1].parent
    frames = [pd.read_parquet(path) for path in sorted(newest.glob("*.parquet"))]
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["generated"].astype(bool) & (rows["error"] == "") & (rows["response"].str.strip() != "")]
    rows = rows.drop_duplicates(["question_id", "response"])
    return rows.sample(min(count, len(rows)), random_state=seed).reset_index(drop=True)


def judge_scores(rows: pd.DataFrame, contexts: list[list[str]], judge, embed_model, correctness=True) -> pd.DataFrame:
    """ragas faithfulness and (with `correctness`) answer correctness, its factual part only
    (weights 1, 0), of each row's response against `contexts`; `embed_model` only satisfies
    ragas' set-up."""
    from ragas import EvaluationDataset, evaluate
    from ragas.embeddings import LlamaIndexEmbeddingsWrapper
    from ragas.llms import LlamaIndexLLMWrapper
    from ragas.run_config import RunConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import AnswerCorrectness, Faithfulness

        samples = [
            {"user_input": r.user_input, "response": r.response, "reference": r.reference, "retrieved_contexts": c}
            for r, c in zip(rows.itertuples(), contexts, strict=True)
        ]
        return evaluate(
            EvaluationDataset.from_list(samples),
            metrics=[Faithfulness(), *([AnswerCorrectness(weights=[1.0, 0.0])] if correctness else [])],
            llm=LlamaIndexLLMWrapper(judge),
            embeddings=LlamaIndexEmbeddingsWrapper(embed_model),
            run_config=RunConfig(max_workers=1, timeout=120, max_retries=2, seed=0),
            raise_exceptions=False,
            show_progress=True,
        ).to_pandas()


def main() -> None:
    """Prints coverage, Spearman's rho and AUROC."""
    from scipy.stats import mannwhitneyu, spearmanr

    from resources.embeddings import EmbeddingProvider, make_embedding
    from resources.llm import LlmProvider, make_llm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=20, help="answered questions judged")
    parser.add_argument("--judge", default="qwen2.5-coder-0.5b-instruct", help="judge LLM (bundled or endpoint)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    args = parser.parse_args()
    rows = answered_rows(args.answers, seed=0)
    provider = LlmProvider(models_dir=str(STATE / "models"), n_threads=args.threads)
    judge = make_llm(provider.settings_for(args.judge).model_copy(update={"max_tokens": 256}))
    embed_model = make_embedding(EmbeddingProvider(models_dir=str(STATE / "models")).settings_for("all-MiniLM-L6-v2"))
    real = [list(c) for c in rows["retrieved_contexts"]]
    swapped = real[1:] + real[:1]  # each answer against the next question's contexts
    started = time.perf_counter()
    scored = judge_scores(rows, real, judge, embed_model)
    seconds = (time.perf_counter() - started) / len(rows)
    unfaithful = judge_scores(rows, swapped, judge, embed_model, correctness=False)
    print(f"{len(rows)} demo answers judged by {args.judge} ({args.threads} threads)")
    print(f"judge seconds per answer (faithfulness + answer correctness): {seconds:.1f}")
    for name, frame in (("real contexts", scored), ("swapped contexts", unfaithful)):
        metrics = [metric for metric in ("faithfulness", "answer_correctness") if metric in frame]
        coverage = {metric: f"{frame[metric].notna().sum()}/{len(frame)}" for metric in metrics}
        print(f"coverage, {name}: {coverage}")
    both = pd.DataFrame({"f1": rows["f1"], "correctness": scored["answer_correctness"]}).dropna()
    rho, p = spearmanr(both["correctness"], both["f1"])
    print(f"Spearman rho, answer_correctness vs SQuAD token F1: {rho:.3f} (p {p:.3g}, n {len(both)})")
    real_f, swapped_f = scored["faithfulness"].dropna(), unfaithful["faithfulness"].dropna()
    if len(real_f) and len(swapped_f):
        u = mannwhitneyu(real_f, swapped_f, alternative="two-sided").statistic
        print(f"faithfulness AUROC, real vs swapped contexts: {u / (len(real_f) * len(swapped_f)):.3f}")
        print(f"  mean faithfulness: real {real_f.mean():.3f}, swapped {swapped_f.mean():.3f}")


if __name__ == "__main__":
    main()
