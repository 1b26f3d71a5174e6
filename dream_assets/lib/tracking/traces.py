"""Each answer of a trial as an MLflow trace, so MLflow 3's trace and evaluation views show what
the configuration retrieved and answered, question by question.

A trace per answered question (`rag_answer`, a CHAIN span) holds a RETRIEVER span (the
question; the retrieved contexts in rank order as documents with their context ids and scores)
and an LLM span (the answer, its tokens in MLflow's `mlflow.chat.tokenUsage`, its cost in
`mlflow.llm.cost`, whether it came from the cache). The spans' durations are the measured
retrieval and generation latencies; their start times are when the trace is logged, since a
trial stores latencies, not clock times. Traces are linked to the configuration's run
(`mlflow.sourceRun`) and tagged with the question and repeat, so a resumed trial logs only the
answers its run has no trace of.
"""

from __future__ import annotations

import contextlib
import math
import time

import pandas as pd

from dream_assets.lib.tracking.model_registry import fluent_tracking_uri

TAG_ANSWER = "dream.answer"  # "<question id>.r<repeat>": one trace per answer and run
_NS = 1_000_000_000


@contextlib.contextmanager
def _sync_trace_logging():
    """Traces written synchronously, so that they are stored when the block ends."""
    import os

    previous = os.environ.get("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING")
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", None)
        else:
            os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = previous


def traced_answers(client, experiment_id: str, run_id: str) -> set[str]:
    """The `TAG_ANSWER` values of the traces already linked to `run_id`."""
    seen, token = set(), None
    while True:
        page = client.search_traces(
            locations=[experiment_id], run_id=run_id, max_results=500, page_token=token, include_spans=False
        )
        seen.update(trace.info.tags.get(TAG_ANSWER, "") for trace in page)
        token = page.token
        if not token:
            return seen


def log_answer_traces(tracker, run_id: str, table: pd.DataFrame, config_key: str) -> int:
    """Logs one trace per answered row of a trial's per-question table (`generated`; a failed
    answer is an ERROR trace with its reason) on `run_id`'s experiment, unless the run already
    has one for that (question, repeat).

    Args:
        tracker: the `resources.tracking.MlflowTracker`.
        run_id: the configuration's MLflow run.
        table: the trial's per-question table (`dream_assets.lib.evaluation.tiers` columns).
        config_key: the configuration, as the traces' attribute.

    Returns:
        The traces logged now.
    """
    client, experiment_id = tracker.client(), tracker.experiment_id()
    answered = table[table["generated"].astype(bool)] if "generated" in table else table.iloc[0:0]
    done = traced_answers(client, experiment_id, run_id)
    todo = [row for row in answered.to_dict("records") if _answer_tag(row) not in done]
    if not todo:
        return 0
    with fluent_tracking_uri(tracker.tracking_uri), _sync_trace_logging():
        start = time.time_ns()
        for row in todo:
            start = _log_trace(client, experiment_id, run_id, row, config_key, start)
    return len(todo)


def _answer_tag(row: dict) -> str:
    return f"{row['question_id']}.r{int(row.get('repeat', 0) or 0)}"


def _seconds_ns(value) -> int:
    seconds = float(value) if value is not None else 0.0
    return 0 if math.isnan(seconds) else int(seconds * _NS)


def _log_trace(client, experiment_id: str, run_id: str, row: dict, config_key: str, start: int) -> int:
    """Logs one answer's trace starting at `start` (ns); returns when it ends."""
    question, response, error = row["user_input"], row.get("response", ""), row.get("error", "")
    retrieved_end = start + _seconds_ns(row.get("retrieval_latency_s"))
    end = retrieved_end + _seconds_ns(row.get("generation_latency_s"))
    attributes = {"config_key": config_key, "question_id": row["question_id"], "split": row.get("split", "")}
    root = client.start_trace(
        "rag_answer",
        span_type="CHAIN",
        inputs={"question": question},
        attributes=attributes,
        tags={TAG_ANSWER: _answer_tag(row)},
        experiment_id=experiment_id,
        start_time_ns=start,
        run_id=run_id,
    )
    retrieve = client.start_span(
        "retrieve", root.trace_id, root.span_id, span_type="RETRIEVER", inputs={"query": question}, start_time_ns=start
    )
    documents = [
        {"page_content": text, "metadata": {"context_id": context_id, "score": float(score)}}
        for text, context_id, score in zip(
            row["retrieved_contexts"], row["retrieved_context_ids"], row["retrieval_scores"], strict=False
        )
    ]
    client.end_span(root.trace_id, retrieve.span_id, outputs=documents, end_time_ns=retrieved_end)
    prompt_tokens, completion_tokens = int(row.get("prompt_tokens", 0)), int(row.get("completion_tokens", 0))
    generate = client.start_span(
        "generate",
        root.trace_id,
        root.span_id,
        span_type="LLM",
        inputs={"question": question, "contexts": len(documents)},
        attributes={
            "mlflow.chat.tokenUsage": {
                "input_tokens": prompt_tokens,
                "output_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "mlflow.llm.cost": {"total_cost": float(row.get("cost_usd", 0.0) or 0.0)},
            "cached": bool(row.get("cached", False)),
            "attempts": int(row.get("attempts", 0) or 0),
        },
        start_time_ns=retrieved_end,
    )
    status = "ERROR" if error else "OK"
    outputs = {"response": response} if not error else {"error_reason": row.get("error_reason", ""), "error": error}
    client.end_span(root.trace_id, generate.span_id, outputs=outputs, status=status, end_time_ns=end)
    client.end_trace(root.trace_id, outputs=outputs, status=status, end_time_ns=end)
    return end
