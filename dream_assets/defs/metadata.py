"""Typed Dagster metadata for DREAM's tables.

Every table an asset shows goes through `table_metadata`: a `MetadataValue.table` with a
`TableSchema` (each column's type and, for DREAM's metrics and leaderboard columns, what it
means), so the Dagster UI renders it as a sortable table with per-column help instead of
Markdown text. `table_asset_metadata` adds Dagster's standard table entries
(`dagster/row_count`, `dagster/column_schema`), which the UI shows on the asset's overview and
uses in its column lineage and search.
"""

from __future__ import annotations

import json
import math
import re

import dagster as dg
import numpy as np
import pandas as pd

ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"
# Rows a metadata table shows (metadata is kept in Dagster's event log: keep it small).
MAX_ROWS = 100
# Characters a text cell shows.
MAX_CHARS = 200

_COLUMNS = {
    "rank": "position on the leaderboard (1: best on rank_by, selection split)",
    "tier": "1: not significantly worse than the best (paired tests, Holm-corrected at 5%); 2: worse",
    "config_key": "RAG configuration: retrieval method, embedding model, LLM, top-k",
    "status": "ok, stopped_early (multi-fidelity search) or failed",
    "error": "why the trial failed ('' when it did not)",
    "errors": "answers that failed (LLM errors after retries)",
    "cost_usd": "LLM cost at config/llms.yaml prices, cached calls included: every answer, plus the judge's",
    "answer_cost_usd": "LLM cost of every answer at config/llms.yaml prices, cached ones included",
    "judge_cost_usd": "the judge's cost of judging the configuration's sampled answers, at config/llms.yaml prices",
    "judge_prompt_tokens": "prompt tokens the judge read for the configuration's sampled answers",
    "judge_completion_tokens": "completion tokens the judge wrote for the configuration's sampled answers",
    "judged_n": "answers the judge scored",
}
_SUFFIXES = [
    (r"(.+)_n", "{}: rows its mean is over"),
    (r"(.+)_coverage", "{}: rows scored / rows attempted"),
    (r"(.+)_ci95_low", "{}: lower end of the 95% bootstrap interval"),
    (r"(.+)_ci95_high", "{}: upper end of the 95% bootstrap interval"),
    (r"(.+)_p_vs_best", "{}: paired-test p-value against the best configuration"),
    (r"(.+)_p_holm", "{}: Holm-corrected p-value against the best configuration"),
    (r"held_out/(.+)", "{} on the held-out split (unbiased for a configuration picked on selection)"),
]


def describe(column: str) -> str | None:
    """What a DREAM table column means: a metric's definition and source (its registered
    description, `dream_assets.lib.evaluation.metric_catalog`), a leaderboard
    column's meaning, or for a derived column (`<metric>_n`, `_coverage`, `_ci95_low`,
    `held_out/<metric>`, ...) what it says about its metric; None for an unknown column."""
    from dream_assets.lib.evaluation.metric_catalog import describe_metric

    if (metric := describe_metric(column)) is not None:
        return metric
    if column in _COLUMNS:
        return _COLUMNS[column]
    for pattern, template in _SUFFIXES:
        match = re.fullmatch(pattern, column)
        if match and describe(match.group(1)):
            return template.format(match.group(1))
    return None


def _column_type(series: pd.Series) -> str:
    kind = series.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu" or str(series.dtype) in ("Int64", "Int32", "UInt64"):
        return "int"
    if kind == "f":
        return "float"
    if kind == "M":
        return "datetime"
    return "string"


def table_schema(frame: pd.DataFrame) -> dg.TableSchema:
    """The `TableSchema` of `frame`: one `TableColumn` per column with its type (int, float,
    bool, datetime, string) and `describe`'s meaning."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=str(name), type=_column_type(frame[name]), description=describe(str(name)))
            for name in frame.columns
        ]
    )


def _cell(value) -> str | int | float | bool | None:
    """One cell as a value Dagster's `TableRecord` accepts: None for missing, plain Python
    numbers (floats rounded to 4 digits), JSON for lists and dicts, text cut to `MAX_CHARS`."""
    if isinstance(value, list | tuple | dict | np.ndarray):
        value = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=str)
    elif value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 4)
    text = str(value)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def table_metadata(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> dg.TableMetadataValue:
    """`frame` as a Dagster table (`MetadataValue.table`) with its schema (`table_schema`): the
    first `max_rows` rows."""
    records = [
        dg.TableRecord({str(name): _cell(value) for name, value in row.items()})
        for row in frame.head(max_rows).to_dict(orient="records")
    ]
    return dg.MetadataValue.table(records=records, schema=table_schema(frame))


def table_asset_metadata(frame: pd.DataFrame) -> dict:
    """Dagster's standard metadata of a table asset: `dagster/row_count` (rows of `frame`) and
    `dagster/column_schema` (`table_schema`)."""
    schema = dg.MetadataValue.table_schema(table_schema(frame))
    return {ROW_COUNT: dg.MetadataValue.int(len(frame)), COLUMN_SCHEMA: schema}
