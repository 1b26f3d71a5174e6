"""Bundled LLM speed and quality on SQuAD questions with their own paragraph as context.

Prints, per bundled LLM: answer latency p50/p95 (s), mean prompt and completion tokens, and how
often the answer contains a human reference answer (a generous, reader-only accuracy).
Usage: python benchmarks/bench_llm.py [--questions 24] [--threads 1]
"""

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from dream_assets.lib.generation import answer_stop, build_prompt, generate
from dream_assets.lib.metrics import normalize_answer
from resources.llm import LlmProvider, make_llm
from resources.models import BUNDLED_MODELS

SQUAD = Path(__file__).resolve().parent.parent / "data" / "demo" / "squad" / "dev-v2.0.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    squad = json.loads(SQUAD.read_text())
    items = [
        (paragraph["context"], qa["question"], [a["text"] for a in qa["answers"]])
        for article in squad["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
        if not qa.get("is_impossible")
    ]
    sample = random.Random(0).sample(items, args.questions)
    provider = LlmProvider(models_dir=tempfile.mkdtemp(prefix="dream-models-"), n_threads=args.threads)
    print(f"{args.questions} SQuAD questions, context = their paragraph, {args.threads} thread(s)")
    print(f"{'model':24} {'p50 s':>6} {'p95 s':>6} {'prompt tok':>10} {'answer tok':>10} {'contains ref':>12}")
    for name, model in BUNDLED_MODELS.items():
        if model.kind != "llm":
            continue
        try:
            settings = provider.settings_for(name)
        except FileNotFoundError as error:
            print(f"{name:24} skipped: {error}")
            continue
        llm = make_llm(settings, stop=answer_stop(settings))
        latencies, prompt_tokens, completion_tokens, hits = [], 0, 0, 0
        for context, question, answers in sample:
            prompt = build_prompt(question, [context], settings.context_window, settings.max_tokens)
            start = time.perf_counter()
            answer = generate(llm, prompt, settings.prompt_style)
            latencies.append(time.perf_counter() - start)
            prompt_tokens += answer.prompt_tokens
            completion_tokens += answer.completion_tokens
            hits += any(normalize_answer(a) in normalize_answer(answer.response) for a in answers)
        count = len(sample)
        print(
            f"{name:24} {np.percentile(latencies, 50):6.2f} {np.percentile(latencies, 95):6.2f} "
            f"{prompt_tokens / count:10.0f} {completion_tokens / count:10.1f} {hits:>9}/{count}"
        )


if __name__ == "__main__":
    main()
