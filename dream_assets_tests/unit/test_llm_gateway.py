"""The LLM gateway's accounting (pure logic): usage counts, cached cost, output of the wrong
shape retried and never cached."""

import dataclasses

import diskcache
import pydantic
import pytest

from dream_assets.lib.llm.failures import GenerationError, RetryPolicy, failure_reason
from dream_assets.lib.llm.gateway import LlmGateway, LlmUsage


class Verdict(pydantic.BaseModel):
    verdict: int


def test_usage_counts_calls_hits_bookings_tokens_and_cost(tmp_path):
    sent, booked = [], []

    def send():
        sent.append(1)
        return '{"verdict": 1}', 100, 10

    with diskcache.Cache(tmp_path) as cache:
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

    with diskcache.Cache(tmp_path) as cache:
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
