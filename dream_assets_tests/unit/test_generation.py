from types import SimpleNamespace

import diskcache
import pytest

from dream_assets.lib.generation import build_prompt, generate


class CountingLlm:
    """Stands in for a LlamaIndex LLM: answers "Rollo" and counts calls (pure cache logic)."""

    def __init__(self, fail: bool = False):
        self.calls, self.fail = 0, fail

    def complete(self, prompt, formatted=False):
        self.calls += 1
        if self.fail:
            raise TimeoutError("the LLM timed out")
        return SimpleNamespace(
            text=" Rollo\nQuestion: next", raw={"usage": {"prompt_tokens": 7, "completion_tokens": 2}}
        )


def test_completion_answers_keep_the_first_line_and_count_tokens():
    answer = generate(CountingLlm(), "p", "completion")
    assert (answer.response, answer.prompt_tokens, answer.completion_tokens, answer.cached) == ("Rollo", 7, 2, False)


def test_cache_answers_a_repeated_prompt_without_calling_the_llm(tmp_path):
    llm = CountingLlm()
    identity = {"model": "gemma", "temperature": 0.0}
    with diskcache.Cache(tmp_path) as cache:
        first = generate(llm, "prompt", "completion", cache, identity)
        again = generate(llm, "prompt", "completion", cache, identity)
        assert llm.calls == 1 and not first.cached and again.cached
        assert (again.response, again.prompt_tokens, again.latency_s) == (first.response, 7, first.latency_s)
        generate(llm, "prompt", "completion", cache, {**identity, "temperature": 0.7})
        generate(llm, "other prompt", "completion", cache, identity)
        assert llm.calls == 3


def test_failures_are_not_cached(tmp_path):
    with diskcache.Cache(tmp_path) as cache:
        with pytest.raises(TimeoutError):
            generate(CountingLlm(fail=True), "prompt", "completion", cache, "m")
        assert len(cache) == 0


def test_prompt_keeps_whole_contexts_in_rank_order_within_the_window():
    prompt = build_prompt("Who?", ["a" * 100, "b" * 100, "c" * 10_000], context_window=256, max_tokens=32)
    assert "a" * 100 in prompt and "b" * 100 in prompt and "c" * 50 not in prompt
    assert prompt.endswith("Question: Who?\nAnswer:")
    only = build_prompt("Who?", ["x" * 10_000], context_window=256, max_tokens=32)
    assert 0 < only.count("x") < 10_000
