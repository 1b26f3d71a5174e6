"""Why an LLM request failed and whether to try again: the retry budget (`RetryPolicy`), the
classification of a client's errors (`failure_reason`), a server's `Retry-After`, and the error a
request that failed for good ends with (`GenerationError`)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one request is retried.

    Attributes:
        max_attempts: tries in all (1: no retry).
        backoff_s: base of the exponential backoff: before try n+1 the client waits a uniform
            random time in [0, min(max_backoff_s, backoff_s * 2**(n-1))] ("full jitter", AWS
            Architecture Blog, "Exponential Backoff and Jitter", 2015), or the server's
            `Retry-After` when that is longer.
        max_backoff_s: cap of one wait.
    """

    max_attempts: int = 1
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0


NO_RETRY = RetryPolicy()


class GenerationError(Exception):
    """A request that failed for good: `reason` (see `failure_reason`), `attempts` made, and
    the last error as `__cause__`."""

    def __init__(self, reason: str, attempts: int, error: BaseException) -> None:
        super().__init__(f"{reason} after {attempts} attempt(s): {type(error).__name__}: {error}")
        self.reason, self.attempts = reason, attempts


def failure_reason(error: BaseException) -> tuple[str, bool]:
    """Classifies an LLM client error: (reason, whether another try may succeed).

    Reasons: `rate_limited` (HTTP 429), `timeout`, `connection`, `server_error` (HTTP 5xx),
    `malformed_response` (a body that is not a completion, or structured output that does not
    validate against its response model), `client_error` (other HTTP 4xx: a bad request or key,
    not retried), `error` (anything else, not retried).
    """
    import openai
    import pydantic

    if isinstance(error, openai.RateLimitError):
        return "rate_limited", True
    if isinstance(error, openai.APITimeoutError | TimeoutError):
        return "timeout", True
    if isinstance(error, openai.APIConnectionError | ConnectionError):
        return "connection", True
    if isinstance(error, openai.InternalServerError):
        return "server_error", True
    # a body that is not JSON, or JSON without the fields a completion has (LlamaIndex's
    # client indexes `choices[0]` and reads its keys), or not of the requested shape
    malformed = openai.APIResponseValidationError | json.JSONDecodeError | pydantic.ValidationError
    if isinstance(error, malformed | IndexError | KeyError):
        return "malformed_response", True
    if isinstance(error, openai.APIStatusError):
        return "client_error", False
    return "error", False


def retry_after_s(error: BaseException) -> float:
    """The server's `Retry-After` header in seconds (0 when absent or not a number)."""
    response = getattr(error, "response", None)
    try:
        return float(response.headers.get("retry-after", 0)) if response is not None else 0.0
    except ValueError:
        return 0.0
