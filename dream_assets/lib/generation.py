"""Answer generation: the RAG prompt and one timed, token-counted LLM call."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from llama_index.core.llms import LLM

from dream_assets.lib.hashing import content_hash

# Where a base model's answer ends (it would go on writing the next question otherwise).
COMPLETION_STOP = ["\n", "Question:"]
INSTRUCTION = "Read the context and answer the question with a short phrase copied from the context."
# About 4 characters per token for English (OpenAI's rule of thumb); the context is cut to fit
# the model's window with room for the instruction, the question and the answer.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Generation:
    """One LLM answer: text, prompt and completion tokens (0 when the server does not report
    them), wall-clock latency in seconds of the call that produced it, and whether it came from
    the cache (then no call was made now)."""

    response: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool = False


def build_prompt(question: str, contexts: list[str], context_window: int = 4096, max_tokens: int = 48) -> str:
    """Returns the RAG prompt: instruction, contexts in rank order, question, `Answer:`.

    Contexts are kept whole in rank order while they fit in `context_window` tokens (estimated at
    `CHARS_PER_TOKEN` characters a token) minus `max_tokens` and 128 tokens for the rest of the
    prompt; the first context is cut if it alone is too long.
    """
    budget = (context_window - max_tokens - 128) * CHARS_PER_TOKEN - len(question)
    kept: list[str] = []
    for context in contexts:
        if len(context) > budget:
            if not kept:
                kept.append(context[: max(budget, 0)])
            break
        kept.append(context)
        budget -= len(context)
    return f"{INSTRUCTION}\n\nContext: {' '.join(kept)}\n\nQuestion: {question}\nAnswer:"


def _usage(raw: Any) -> tuple[int, int]:
    usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)
    if usage is None:
        return 0, 0
    get = usage.get if isinstance(usage, dict) else lambda name: getattr(usage, name, 0)
    return int(get("prompt_tokens") or 0), int(get("completion_tokens") or 0)


def generate(llm: LLM, prompt: str, prompt_style: str, cache=None, llm_identity: object = None) -> Generation:
    """Calls the LLM once, or answers from `cache`.

    Args:
        llm: a LlamaIndex LLM (from `resources.llm.make_llm`).
        prompt: the full prompt from `build_prompt`.
        prompt_style: `completion` sends the prompt as is (a base model continues after
            `Answer:`); `chat` lets the LLM wrap it in its chat format.
        cache: a mapping-like store (`diskcache.Cache`) of earlier answers, or None.
        llm_identity: JSON-able description of everything that changes the answer (model,
            endpoint, sampling parameters, stop strings); with the prompt and style it keys the
            cache, so a repeated or resumed evaluation asks the LLM nothing it answered before.

    Raises:
        Whatever the LLM client raises (timeouts, HTTP errors); the caller records it. Failures
        are not cached.
    """
    key = content_hash([llm_identity, prompt_style, prompt], length=64) if cache is not None else None
    if key is not None and key in cache:
        return Generation(**{**cache[key], "cached": True})
    start = time.perf_counter()
    completion = llm.complete(prompt, formatted=prompt_style == "completion")
    latency = time.perf_counter() - start
    prompt_tokens, completion_tokens = _usage(completion.raw)
    text = completion.text.strip()
    if prompt_style == "completion":  # a base model goes on after its answer: keep its first line
        text = text.split("\n", 1)[0].strip()
    generation = Generation(text, prompt_tokens, completion_tokens, latency)
    if key is not None:
        cache[key] = {name: value for name, value in asdict(generation).items() if name != "cached"}
    return generation
