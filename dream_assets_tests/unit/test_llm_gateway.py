"""The LLM gateway's accounting (pure logic): usage counts, cached cost, output of the wrong
shape retried and never cached."""

import dataclasses

import pydantic
import pytest

from dream_assets.lib.llm.failures import GenerationError, RetryPolicy, failure_reason
from dream_assets.lib.llm.gateway import LlmGateway, LlmUsage
from dream_assets.lib.response_cache import ResponseCache


class Verdict(pydantic.BaseModel):
    verdict: int


def test_usage_counts_calls_hits_bookings_tokens_and_cost(tmp_path):
    sent, booked = [], []

    def send():
        sent.append(1)
        return '{"verdict": 1}', 100, 10

    with ResponseCache(tmp_path) as cache:
        gateway = LlmGateway({"model": "m"}, cache, reserve=lambda tokens: booked.append(tokens) or 0.0,
                             price=lambda p, c: p * 1e-6 + c * 2e-6)  # fmt: skip
        before = dataclasses.replace(gateway.usage)
        first = gateway.ask(["prompt"], send, estimated_tokens=42)
        again = gateway.ask(["prompt"], send, estimated_tokens=42)
        gateway.ask(["other prompt"], send, estimated_tokens=7)
    assert not first.cached and again.cached and again.response == first.response
    assert len(sent) == 2 and booked == [42, 7]
    used = gateway.usage.since(before)
    assert (used.requests, used.calls, used.cache_hits, used.reserved) == (3, 2, 1, 2)
    assert (used.prompt_tokens, used.completion_tokens) == (300, 30)
    assert used.cost_usd == pytest.approx(3 * (100e-6 + 20e-6))  # cache hits cost what the work costs


def test_output_of_the_wrong_shape_is_retried_and_never_cached(tmp_path):
    replies = iter(["Sure! It is right.", '{"verdict": "yes"}', '{"verdict": 0}'])

    def send():
        text = next(replies)
        Verdict.model_validate_json(text)
        return text, 1, 1

    with ResponseCache(tmp_path) as cache:
        gateway = LlmGateway("m", cache, RetryPolicy(3, backoff_s=0.0), sleep=lambda s: None)
        answer = gateway.ask("p", send)
        assert (answer.response, answer.attempts, gateway.usage.calls) == ('{"verdict": 0}', 3, 3)
        assert len(cache) == 1
        with pytest.raises(GenerationError, match="malformed_response after 1 attempt"):
            LlmGateway("m", cache).ask("q", lambda: Verdict.model_validate_json("no") and ("", 0, 0))
        assert len(cache) == 1


def test_a_validation_error_is_a_malformed_response_worth_another_try():
    with pytest.raises(pydantic.ValidationError) as raised:
        Verdict.model_validate_json("{}")
    assert failure_reason(raised.value) == ("malformed_response", True)
    assert LlmUsage().since(LlmUsage(requests=0)) == LlmUsage()


def test_a_damaged_or_failing_cache_is_a_miss_and_the_answer_stands(tmp_path):
    import sqlite3

    from dream_assets.lib.response_cache import FILE_NAME

    calls = []

    def send():
        calls.append(1)
        return "Paris", 5, 1

    with ResponseCache(tmp_path) as cache:
        LlmGateway("m", cache).ask("p", send)
        # a value that is not a cached answer (written by hand, or by another program) is a miss
        with sqlite3.connect(tmp_path / FILE_NAME) as db:
            db.execute("UPDATE responses SET value = '\"not an answer\"'")
        again = LlmGateway("m", cache).ask("p", send)
        assert not again.cached and again.response == "Paris" and len(calls) == 2

    class Broken(dict):
        def get(self, key, default=None):
            raise OSError("disk I/O error")

        def __setitem__(self, key, value):
            raise OSError("disk full")

    answer = LlmGateway("m", Broken()).ask("p", send)  # neither read nor write fails the call
    assert answer.response == "Paris" and len(calls) == 3


def test_a_file_that_is_not_a_database_is_set_aside_and_values_are_json(tmp_path):
    from dream_assets.lib.response_cache import FILE_NAME

    (tmp_path / FILE_NAME).write_bytes(b"\x80\x04garbage, perhaps a pickle")
    with ResponseCache(tmp_path) as cache:
        cache["k"] = {"response": "x", "prompt_tokens": 1, "completion_tokens": 1, "latency_s": 0.1}
        assert cache.get("k")["response"] == "x" and len(cache) == 1
        with pytest.raises(TypeError):
            cache["bad"] = object()  # only JSON is stored: nothing that would need a pickle
    assert list(tmp_path.glob(f"{FILE_NAME}.damaged-*"))
