from types import SimpleNamespace

import pytest

from dream_assets.lib.llm.failures import GenerationError, RetryPolicy
from dream_assets.lib.llm.generation import build_prompt, generate
from dream_assets.lib.response_cache import ResponseCache


class CountingLlm:
    """Stands in for a LlamaIndex LLM: answers "Rollo" and counts calls (pure cache logic)."""

    def __init__(self, fail: bool | int = False, error: Exception | None = None):
        self.calls, self.fail, self.error = 0, fail, error or TimeoutError("the LLM timed out")

    def complete(self, prompt, formatted=False):
        self.calls += 1
        if self.fail is True or self.calls <= self.fail:
            raise self.error
        return SimpleNamespace(
            text=" Rollo\nQuestion: next", raw={"usage": {"prompt_tokens": 7, "completion_tokens": 2}}
        )


def test_completion_answers_keep_the_first_line_and_count_tokens():
    answer = generate(CountingLlm(), "p", "completion")
    assert (answer.response, answer.prompt_tokens, answer.completion_tokens, answer.cached) == ("Rollo", 7, 2, False)


def test_cache_answers_a_repeated_prompt_without_calling_the_llm(tmp_path):
    llm = CountingLlm()
    identity = {"model": "gemma", "temperature": 0.0}
    with ResponseCache(tmp_path) as cache:
        first = generate(llm, "prompt", "completion", cache, identity)
        again = generate(llm, "prompt", "completion", cache, identity)
        assert llm.calls == 1 and not first.cached and again.cached
        assert (again.response, again.prompt_tokens, again.latency_s) == (first.response, 7, first.latency_s)
        generate(llm, "prompt", "completion", cache, {**identity, "temperature": 0.7})
        generate(llm, "other prompt", "completion", cache, identity)
        assert llm.calls == 3


def test_failures_are_not_cached(tmp_path):
    with ResponseCache(tmp_path) as cache:
        with pytest.raises(GenerationError, match="timeout after 1 attempt") as raised:
            generate(CountingLlm(fail=True), "prompt", "completion", cache, "m")
        assert (raised.value.reason, raised.value.attempts) == ("timeout", 1)
        assert isinstance(raised.value.__cause__, TimeoutError)
        assert len(cache) == 0


def test_retryable_errors_are_retried_with_growing_capped_backoff():
    waits, llm = [], CountingLlm(fail=3)
    policy = RetryPolicy(5, backoff_s=1.0, max_backoff_s=3.0)
    answer = generate(llm, "p", "completion", retry=policy, sleep=waits.append)
    assert (answer.response, answer.attempts, llm.calls) == ("Rollo", 4, 4)
    assert len(waits) == 3 and all(0 <= wait <= cap for wait, cap in zip(waits, [1.0, 2.0, 3.0], strict=True))


def test_the_retry_budget_ends_in_an_error_with_its_reason():
    llm = CountingLlm(fail=True, error=ConnectionError("reset by peer"))
    with pytest.raises(GenerationError) as raised:
        generate(llm, "p", "completion", retry=RetryPolicy(3, backoff_s=0.0), sleep=lambda s: None)
    assert (raised.value.reason, raised.value.attempts, llm.calls) == ("connection", 3, 3)


def test_errors_that_cannot_pass_are_not_retried():
    llm = CountingLlm(fail=True, error=RuntimeError("model not loaded"))
    with pytest.raises(GenerationError) as raised:
        generate(llm, "p", "completion", retry=RetryPolicy(3), sleep=lambda s: None)
    assert (raised.value.reason, raised.value.attempts, llm.calls) == ("error", 1, 1)


def test_each_try_waits_for_the_rate_limiter_with_its_token_estimate():
    booked, waits = [], []

    def reserve(tokens):
        booked.append(tokens)
        return 0.5

    generate(CountingLlm(), "x" * 400, "completion", reserve=reserve, max_tokens=24, sleep=waits.append)
    assert booked == [100 + 24] and waits == [0.5]


def test_prompt_keeps_whole_contexts_in_rank_order_within_the_window():
    prompt = build_prompt("Who?", ["a" * 100, "b" * 100, "c" * 10_000], context_window=256, max_tokens=32)
    assert "a" * 100 in prompt and "b" * 100 in prompt and "c" * 50 not in prompt
    assert prompt.endswith("Question: Who?\nAnswer:")
    only = build_prompt("Who?", ["x" * 10_000], context_window=256, max_tokens=32)
    assert 0 < only.count("x") < 10_000
