"""Typed table metadata and the pure logic behind the index and trial asset checks."""

import math

import numpy as np
import pandas as pd
import pytest

from dream_assets.defs.metadata import (
    COLUMN_SCHEMA,
    MAX_CHARS,
    ROW_COUNT,
    describe,
    table_asset_metadata,
    table_metadata,
)
from dream_assets.lib.evaluation.summary import coverage_shortfalls
from dream_assets.lib.retrieval.index_checks import index_problems


def test_a_table_keeps_its_types_and_turns_missing_values_into_nulls():
    frame = pd.DataFrame(
        {
            "config_key": ["a", "b"],
            "tier": pd.array([1, None], dtype="Int64"),
            "mrr": [0.123456, math.nan],
            "generated": [True, False],
            "retrieved_contexts": [["x", "y"], np.array(["z"])],
            "response": ["short", "w" * (MAX_CHARS + 50)],
        }
    )
    value = table_metadata(frame)
    types = {column.name: column.type for column in value.schema.columns}
    assert types == {
        "config_key": "string",
        "tier": "int",
        "mrr": "float",
        "generated": "bool",
        "retrieved_contexts": "string",
        "response": "string",
    }
    first, second = (record.data for record in value.records)
    assert first == {
        "config_key": "a",
        "tier": 1,
        "mrr": 0.1235,
        "generated": True,
        "retrieved_contexts": '["x", "y"]',
        "response": "short",
    }
    assert second["tier"] is None and second["mrr"] is None and second["retrieved_contexts"] == '["z"]'
    assert len(second["response"]) == MAX_CHARS and second["response"].endswith("…")
    assert len(table_metadata(pd.DataFrame({"n": range(300)}), max_rows=7).records) == 7


def test_a_table_asset_gets_dagsters_row_count_and_column_schema():
    frame = pd.DataFrame({"mrr": [0.5, 0.25, 1.0], "held_out/mrr": [0.4, 0.3, 0.9]})
    metadata = table_asset_metadata(frame)
    assert metadata[ROW_COUNT].value == 3
    columns = metadata[COLUMN_SCHEMA].schema.columns
    assert [column.name for column in columns] == ["mrr", "held_out/mrr"]
    assert "reciprocal rank" in columns[0].description and "held-out" in columns[1].description


@pytest.mark.parametrize(
    ("column", "says"),
    [
        ("f1", "token F1"),
        ("mrr_ci95_low", "mrr: lower end of the 95% bootstrap interval"),
        ("held_out/mrr_n", "held_out/mrr: rows its mean is over"),
        ("faithfulness_coverage", "faithfulness: rows scored / rows attempted"),
        ("tier", "Holm"),
    ],
)
def test_columns_are_described_by_their_metric(column, says):
    assert says in describe(column)


def test_unknown_columns_have_no_description():
    assert describe("something_else") is None and describe("something_else_n") is None


def _dimensions(lengths: dict[str, int]) -> pd.Series:
    return pd.Series(lengths, dtype="int64")


def test_a_complete_index_has_no_problem():
    dimensions = _dimensions({"n1": 384, "n2": 384})
    assert index_problems({"embedded": 2}, dimensions, 384, {"n1", "n2"}) == []


def test_each_kind_of_damage_to_an_index_is_named():
    dimensions = pd.Series([384, 384, 0, 100], index=["n1", "n1", "n2", "n3"], dtype="int64")
    problems = index_problems({"embedded": 5}, dimensions, 384, {"n1", "n2", "n3", "n4"})
    assert problems == [
        "4 vectors stored for 5 nodes embedded",
        "1 node(s) stored twice",
        "1 node(s) without a vector",
        "1 vector(s) of length [100] instead of the model's 384",
        "1 node(s) of the index without a stored vector",
    ]


def test_metrics_scored_on_too_few_questions_are_listed_and_failed_trials_skipped():
    rows = [
        {"config_key": "a", "mrr_coverage": 1.0, "f1_coverage": 0.75, "held_out/f1_coverage": 0.1},
        {"config_key": "b", "mrr_coverage": 0.95, "f1_coverage": 0.9},
        {"config_key": "c", "status": "failed", "error": "boom"},
    ]
    shortfalls = coverage_shortfalls(rows, 0.9)
    assert shortfalls.to_dict(orient="records") == [{"config_key": "a", "metric": "f1", "coverage": 0.75}]
    assert coverage_shortfalls(rows[1:], 0.9).empty
