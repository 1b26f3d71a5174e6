"""Bundled LLM speed and quality on SQuAD questions with their own paragraph as context.

Prints, per bundled LLM: answer latency p50/p95 (s), mean prompt and completion tokens, how
often the answer contains a human reference answer (a generous, reader-only accuracy) and the
mean SQuAD token F1 against the references (Rajpurkar et al. 2016). The same seeded questions
for every model; models assembled under $DREAM_HOME/models (default .dream/models).
Usage: python benchmarks/bench_llm.py [--questions 50] [--threads 2] [--models NAME ...]
"""

import argparse
import json
import os
import random
import time
from pathlib import Path

import numpy as np

from dream_assets.lib.evaluation.formulas import normalize_answer, token_f1
from dream_assets.lib.llm.generation import answer_stop, build_prompt, generate
from dream_assets.lib.llm.settings import make_llm
from dream_assets.lib.models.bundled import BUNDLED_MODELS
from resources.llm import LlmProvider

SQUAD = Path(__file__).resolve().parent.parent / "data" / "demo" / "squad" / "dev-v2.0.json"


def squad_items(path: Path = SQUAD) -> list[tuple[str, str, list[str]]]:
    """(paragraph, question, human answers) of every answerable question of a SQuAD file."""
    squad = json.loads(path.read_text())
    return [
        (paragraph["context"], qa["question"], [a["text"] for a in qa["answers"]])
        for article in squad["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
        if not qa.get("is_impossible")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", help="bundled LLM names (default: all)")
    args = parser.parse_args()
    sample = random.Random(0).sample(squad_items(), args.questions)
    models_dir = Path(os.environ.get("DREAM_HOME", Path(__file__).resolve().parent.parent / ".dream")) / "models"
    provider = LlmProvider(models_dir=str(models_dir), n_threads=args.threads)
    print(f"{args.questions} SQuAD questions, context = their paragraph, {args.threads} thread(s)")
    print(
        f"{'model':28} {'p50 s':>6} {'p95 s':>6} {'prompt tok':>10} {'answer tok':>10} {'contains ref':>12} {'F1':>5}"
    )
    for name, model in BUNDLED_MODELS.items():
        if model.kind != "llm" or (args.models and name not in args.models):
            continue
        try:
            settings = provider.settings_for(name)
        except FileNotFoundError as error:
            print(f"{name:28} skipped: {error}")
            continue
        llm = make_llm(settings, stop=answer_stop(settings))
        latencies, prompt_tokens, completion_tokens, hits, f1 = [], 0, 0, 0, 0.0
        for context, question, answers in sample:
            prompt = build_prompt(question, [context], settings.context_window, settings.max_tokens)
            start = time.perf_counter()
            answer = generate(llm, prompt, settings.prompt_style)
            latencies.append(time.perf_counter() - start)
            prompt_tokens += answer.prompt_tokens
            completion_tokens += answer.completion_tokens
            hits += any(normalize_answer(a) in normalize_answer(answer.response) for a in answers)
            f1 += token_f1(answer.response, answers)
        count = len(sample)
        print(
            f"{name:28} {np.percentile(latencies, 50):6.2f} {np.percentile(latencies, 95):6.2f} "
            f"{prompt_tokens / count:10.0f} {completion_tokens / count:10.1f} {hits:>9}/{count} {f1 / count:5.3f}"
        )


if __name__ == "__main__":
    main()
