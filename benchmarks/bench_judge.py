"""The bundled judge checked against humans, on SQuAD answers (`--source squad`: seeded SQuAD
questions answered from their paragraph by two bundled LLMs of different strength; `--source
demo`: the answers a `dream run` left under DREAM_HOME): ragas `answer_correctness` against
SQuAD token F1 (Spearman's rho), and ragas
`faithfulness` on each real (answer, retrieved contexts) pair against the same answer given
another question's contexts, which do not support it (AUROC: the share of (real, swapped) pairs
the judge orders correctly, ties counting half; Mann-Whitney U / (n x m)). Also each metric's
coverage (scored / attempted) and the judge's seconds per answer.

Same path as the `judge_evaluations` asset (`dream_assets.lib.evaluation.judging`): ragas `evaluate` with the
grammar-constrained judge (`dream_assets.lib.llm.ragas_llm`), its response cache off unless `--cache`.
Usage: python benchmarks/bench_judge.py [--answers 100] [--judge qwen2.5-coder-0.5b-instruct]
"""

import argparse
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pandas as pd  # noqa: E402

from dream_assets.lib.evaluation.judging import JUDGE_MAX_STRING_CHARS, JUDGE_MAX_TOKENS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("DREAM_HOME", ROOT / ".dream"))
SQUAD = ROOT / "data" / "demo" / "squad" / "dev-v2.0.json"


def demo_rows(count: int, seed: int) -> pd.DataFrame:
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


def squad_rows(count: int, seed: int, answerers: list[str], threads: int) -> pd.DataFrame:
    """`count` answers to SQuAD questions drawn with `seed`, each answered from its own
    paragraph by each LLM of `answerers` in turn (weak and stronger answers, so F1 varies),
    scored by token F1 against the human answers; rows in a seeded random order, empty answers
    dropped (about 1 in 25: hence a 10% margin of extra questions)."""
    from bench_llm import squad_items  # this folder is on the path of a script run from it

    from dream_assets.lib.evaluation.formulas import token_f1
    from dream_assets.lib.llm.generation import answer_stop, build_prompt, generate
    from dream_assets.lib.llm.settings import make_llm
    from resources.llm import LlmProvider

    items = squad_items(SQUAD)
    per_answerer = -(-count // len(answerers))
    sample = random.Random(seed).sample(items, per_answerer)
    # a few more questions, drawn apart so the first draw stays the same: empty answers are dropped
    margin = max(2, per_answerer // 10)
    sample += [item for item in random.Random(seed + 1).sample(items, 2 * margin) if item not in sample][:margin]
    provider = LlmProvider(models_dir=str(STATE / "models"), n_threads=threads)
    rows = []
    for name in answerers:
        settings = provider.settings_for(name)
        llm = make_llm(settings, stop=answer_stop(settings))
        for context, question, answers in sample:
            prompt = build_prompt(question, [context], settings.context_window, settings.max_tokens)
            response = generate(llm, prompt, settings.prompt_style).response
            rows.append(
                {
                    "user_input": question,
                    "response": response,
                    "reference": answers[0],
                    "retrieved_contexts": [context],
                    "f1": token_f1(response, answers),
                    "answerer": name,
                }  # fmt: skip
            )
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)
    return table[table["response"].str.strip() != ""].head(count).reset_index(drop=True)


def main() -> None:
    """Prints coverage, seconds per answer, Spearman's rho and AUROC."""
    from dream_assets.lib.evaluation.judging import judge_rows, swapped_contexts
    from dream_assets.lib.llm.ragas_llm import make_ragas_llm
    from dream_assets.lib.models.embeddings import make_embedding
    from resources.embeddings import EmbeddingProvider
    from resources.llm import LlmProvider

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=100, help="answered questions judged")
    parser.add_argument("--judge", default="qwen2.5-coder-0.5b-instruct", help="judge LLM (bundled or endpoint)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--chunk", type=int, default=20, help="answers judged between two reports")
    parser.add_argument("--cache", help="response cache directory (a rerun resumes; seconds then count cache hits)")
    parser.add_argument("--save", help="JSON file the figures are saved to, under the judge's name")
    parser.add_argument("--source", choices=["squad", "demo"], default="squad", help="whose answers are judged")
    parser.add_argument(
        "--answerers", nargs="+", default=["gemma-3-270m", "qwen2.5-coder-0.5b-instruct"], help="LLMs answering (squad)"
    )
    args = parser.parse_args()
    if args.source == "demo":
        rows = demo_rows(args.answers, seed=0)
    else:
        rows = squad_rows(args.answers, 0, args.answerers, args.threads)
    print(f"answers: mean token F1 {rows['f1'].mean():.3f}, {int((rows['f1'] > 0).sum())} with F1 > 0")
    provider = LlmProvider(models_dir=str(STATE / "models"), n_threads=args.threads)
    judge = make_ragas_llm(
        provider.settings_for(args.judge).model_copy(update={"max_tokens": JUDGE_MAX_TOKENS}),
        max_string_chars=JUDGE_MAX_STRING_CHARS,
        cache_dir=args.cache,
    )
    embed_model = make_embedding(EmbeddingProvider(models_dir=str(STATE / "models")).settings_for("all-MiniLM-L6-v2"))
    metrics = ["faithfulness", "answer_correctness"]
    contexts = swapped_contexts(rows)  # over every answer, so each chunk's pairs are fixed
    scored, swapped, seconds = [], [], 0.0
    for start in range(0, len(rows), args.chunk):  # figures so far after each chunk
        part = rows.iloc[start : start + args.chunk]
        started = time.perf_counter()
        scored.append(judge_rows(part, judge, embed_model, metrics))
        seconds += time.perf_counter() - started
        swapped.append(
            judge_rows(part, judge, embed_model, ["faithfulness"], contexts=contexts[start : start + args.chunk])
        )
        report(args, pd.concat(scored), pd.concat(swapped), seconds, judge.calls, metrics)


def report(args, scored: pd.DataFrame, swapped: pd.DataFrame, seconds: float, calls: int, metrics: list[str]) -> None:
    """Prints the figures on the answers judged so far; with `--save`, writes them to its JSON
    file under the judge's name (what the leaderboard logs as the judge's calibration)."""
    from dream_assets.lib.evaluation.judging import judge_calibration

    print(f"{len(scored)} answers judged by {args.judge} ({args.threads} threads, {calls} calls)", flush=True)
    print(f"judge seconds per answer ({' + '.join(metrics)}): {seconds / len(scored):.1f}")
    figures = {"answers": len(scored), "seconds_per_answer": round(seconds / len(scored), 1)}
    for name, frame, judged in (("real", scored, metrics), ("swapped", swapped, ["faithfulness"])):
        for metric in judged:
            figures[f"{metric}_coverage_{name}"] = round(float(frame[metric].notna().mean()), 3)
    figures.update({name: round(value, 3) for name, value in judge_calibration(scored, swapped).items()})
    for name, value in figures.items():
        print(f"  {name}: {value}")
    if args.save:
        path = Path(args.save)
        saved = json.loads(path.read_text()) if path.exists() else {}
        saved[args.judge] = {**figures, "source": SOURCE_NOTE[args.source], "date": time.strftime("%Y-%m-%d")}
        path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")


SOURCE_NOTE = {
    "squad": "benchmarks/bench_judge.py: SQuAD v2.0 dev questions answered from their paragraph by gemma-3-270m"
    " and qwen2.5-coder-0.5b-instruct, seed 0",
    "demo": "benchmarks/bench_judge.py: answers of a dream run's trials",
}


if __name__ == "__main__":
    main()
