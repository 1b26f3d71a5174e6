"""Tokens per second of the installed llama.cpp build on each bundled GGUF: prompt processing
(a RAG prompt of about 300 tokens) and generation (64 tokens, greedy), one thread and two.

Compare builds by running this under each: the installed one (`make install`, the portable
baseline of requirements/llama-cpp.cmake-args) and, say, a native one installed elsewhere
(`pip wheel` with no CMAKE_ARGS, then `pip install --target DIR`; run with PYTHONPATH=DIR).

Usage: python benchmarks/bench_llama_build.py [--models-dir .dream/models] [--repeats 3]
"""

import argparse
import statistics
import time
from pathlib import Path

import llama_cpp

from dream_assets.lib.llm.generation import build_prompt
from dream_assets.lib.llm.smoke_check import bundled_ggufs

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in"
    " France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway who, under"
    " their leader Rollo, agreed to swear fealty to King Charles III of West Francia. Through generations of"
    " assimilation and mixing with the native Frankish and Roman-Gaulish populations, their descendants would"
    " gradually merge with the Carolingian-based cultures of West Francia."
)


def measure(path: Path, threads: int, repeats: int) -> tuple[float, float]:
    """(prompt tokens per second, generated tokens per second), medians over `repeats`."""
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False, seed=0
    )
    prompt = build_prompt("Who was the leader of the Norse raiders?", [CONTEXT, CONTEXT])
    tokens = llm.tokenize(prompt.encode())
    prompt_rates, generation_rates = [], []
    for _ in range(repeats):
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        prompt_rates.append(len(tokens) / (time.perf_counter() - started))
        started, generated = time.perf_counter(), 0
        for token in llm.generate([], temp=0.0, reset=False):
            generated += 1
            if generated == 64 or token == llm.token_eos():
                break
        generation_rates.append(generated / (time.perf_counter() - started))
    return statistics.median(prompt_rates), statistics.median(generation_rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", default=str(ROOT / ".dream" / "models"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"llama-cpp-python {llama_cpp.__version__} from {Path(llama_cpp.__file__).parent}")
    print(llama_cpp.llama_print_system_info().decode().strip())
    print(f"{'model':<30} {'threads':>7} {'prompt tok/s':>13} {'gen tok/s':>10}")
    for name, path in bundled_ggufs(args.models_dir).items():
        for threads in (1, 2):
            prompt, generation = measure(path, threads, args.repeats)
            print(f"{name:<30} {threads:>7} {prompt:>13.1f} {generation:>10.1f}")


if __name__ == "__main__":
    main()
