"""Proof that the installed llama.cpp build runs here: each bundled GGUF (or the files named) is
loaded and asked for a few tokens, each in its own process, so a build that cannot run on this
CPU (an instruction it lacks: SIGILL) fails the install with one line naming the LLM and the
signal, instead of a sweep of dead trials.

Run by `make install` after everything is installed; by hand:

    python -m dream_assets.lib.llm.smoke_check [--models-dir DIR] [--gguf PATH ...]

Exit status 0 when every model generated; 1 with one line per model that did not.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# The child: loads one GGUF with llama-cpp-python and generates `tokens` tokens greedily; prints
# one JSON line with the tokens generated, the seconds they took and the CPU features the build
# uses (`llama_print_system_info`).
_CHILD = """
import json, sys, time
import llama_cpp
path, tokens = sys.argv[1], int(sys.argv[2])
llm = llama_cpp.Llama(model_path=path, n_ctx=256, n_threads=1, n_threads_batch=1, verbose=False, seed=0)
start = time.perf_counter()
out = llm("The capital of France is", max_tokens=tokens, temperature=0.0)
seconds = time.perf_counter() - start
info = llama_cpp.llama_print_system_info().decode()
features = [part.split("=")[0].split(":")[-1].strip() for part in info.split("|") if part.strip().endswith("= 1")]
print(json.dumps({"completion_tokens": out["usage"]["completion_tokens"], "seconds": seconds, "features": features}))
"""


@dataclass(frozen=True)
class SmokeResult:
    """One model's smoke test: its `name`, the GGUF `path`, and either the tokens generated, the
    seconds generation took and the CPU `features` the llama.cpp build uses, or the `failure`
    (the signal that killed the process, or its last error line)."""

    name: str
    path: str
    completion_tokens: int = 0
    seconds: float = 0.0
    features: tuple[str, ...] = ()
    failure: str = ""


def signal_description(returncode: int) -> str:
    """The signal a child process died of, from `subprocess`'s negative return code: e.g. -4
    gives 'SIGILL (Illegal instruction)'; '' for a process that exited by itself (>= 0)."""
    if returncode >= 0:
        return ""
    try:
        number = signal.Signals(-returncode)
    except ValueError:
        return f"signal {-returncode}"
    return f"{number.name} ({signal.strsignal(number)})"


def smoke_test(name: str, path: str | Path, tokens: int = 4, timeout_s: float = 300.0) -> SmokeResult:
    """Loads the GGUF at `path` in a new Python process and generates `tokens` tokens.

    Args:
        name: the model's name, for the report.
        path: the GGUF file.
        tokens: tokens to generate (greedy, seed 0).
        timeout_s: seconds before the process is killed and the model reported as hung.

    Returns:
        The result; `failure` is set when the process died of a signal, exited with an error,
        hung, or generated nothing.
    """
    command = [sys.executable, "-c", _CHILD, str(path), str(tokens)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return SmokeResult(name, str(path), failure=f"no answer within {timeout_s:.0f} s")
    if done.returncode < 0:
        return SmokeResult(name, str(path), failure=f"killed by {signal_description(done.returncode)}")
    if done.returncode > 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return SmokeResult(name, str(path), failure=lines[-1] if lines else f"exit status {done.returncode}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["completion_tokens"] < 1:
        return SmokeResult(name, str(path), failure="generated no token")
    return SmokeResult(name, str(path), report["completion_tokens"], report["seconds"], tuple(report["features"]))


def bundled_ggufs(models_dir: str | Path) -> dict[str, Path]:
    """Every bundled LLM's GGUF file by name, assembled and verified under `models_dir`
    (`dream_assets.lib.models.bundled.bundled_model_path`)."""
    from dream_assets.lib.models.bundled import BUNDLED_MODELS, bundled_model_path

    return {name: bundled_model_path(name, models_dir) for name, model in BUNDLED_MODELS.items() if model.kind == "llm"}


def main(argv: list[str] | None = None) -> int:
    """Runs the smoke test on the bundled GGUFs (or `--gguf` files) and prints one line per
    model; returns the exit status (1 when any failed)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--models-dir", default=".dream/models", help="where bundled models are assembled")
    parser.add_argument("--gguf", action="append", default=[], help="a GGUF file to test instead (repeatable)")
    parser.add_argument("--tokens", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    models = {Path(path).name: Path(path) for path in args.gguf} or bundled_ggufs(args.models_dir)
    failed = 0
    for name, path in models.items():
        started = time.perf_counter()
        result = smoke_test(name, path, args.tokens)
        if result.failure:
            failed += 1
            hint = "; the llama.cpp build does not fit this CPU (requirements/llama-cpp.cmake-args)"
            logger.error(
                "LLM smoke test FAILED: %s: %s (%s)%s",
                *(name, result.failure, path, hint if result.failure.startswith("killed by SIG") else ""),
            )
            continue
        logger.info(
            "LLM smoke test ok: %s generated %d tokens in %.2f s (%.1f s with loading; llama.cpp uses %s)",
            *(name, result.completion_tokens, result.seconds, time.perf_counter() - started, " ".join(result.features)),
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
