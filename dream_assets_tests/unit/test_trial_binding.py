"""Trial tables bound to the trial that made them: the fingerprint stamp survives the object
store, and the leaderboard's rows rank only tables their latest sweep planned."""

import pandas as pd
import pytest

from dream_assets import layout
from dream_assets.defs.evaluation.trials import ranked_trials, stale_reason, trial_rows
from dream_assets.lib.evaluation.trial_settings import FINGERPRINT_ATTR, planned_key, table_fingerprint
from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings
from dream_assets.search_space import load_search_space

GOLDEN = "g1"


def _table(mrr: float, fingerprint: str) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "question_id": ["a", "b", "c", "d"],
            "error": [""] * 4,
            "hit_rate": [1.0, 1.0, 0.0, 1.0],
            "mrr": [mrr, mrr, 0.0, mrr],
            "generated": [False] * 4,
            "retrieval_latency_s": [0.1] * 4,
            "generation_latency_s": [float("nan")] * 4,
            "prompt_tokens": [0] * 4,
            "completion_tokens": [0] * 4,
            "cached": [False] * 4,
            "f1": [float("nan")] * 4,
        }
    )
    table.attrs[FINGERPRINT_ATTR] = fingerprint
    return table


def _store(tmp_path) -> ObjectStoreClient:
    return ObjectStoreClient(ObjectStoreSettings(root=str(tmp_path / "store")))


def _put(store, key: str, table: pd.DataFrame | None, plan: dict | None) -> None:
    if table is not None:
        store.write_parquet(layout.trial_key(GOLDEN, key), table)
    if plan is not None:
        store.write_json(planned_key(layout.trial_key(GOLDEN, key)), plan)


def test_the_stamp_survives_the_object_store(tmp_path):
    store = _store(tmp_path)
    store.write_parquet("t.parquet", _table(0.5, "f" * 16))
    assert table_fingerprint(store.read_parquet("t.parquet")) == "f" * 16
    store.write_parquet("u.parquet", pd.DataFrame({"x": [1]}))
    assert table_fingerprint(store.read_parquet("u.parquet")) == ""


def test_only_tables_their_latest_sweep_planned_are_ranked(tmp_path):
    store = _store(tmp_path)
    good, replaced, older, unplanned = list(load_search_space().configs_by_key)[:4]
    configs = {key: load_search_space().configs_by_key[key] for key in (good, replaced, older, unplanned)}
    _put(store, good, _table(0.9, "a1"), {"fingerprint": "a1", "sweep": "s2", "planned_at": 20.0})
    # a killed run with another sample size left its first rung's table: stamped b2, planned b1
    _put(store, replaced, _table(0.99, "b2"), {"fingerprint": "b1", "sweep": "s2", "planned_at": 19.0})
    # evaluated by an earlier sweep with another seed: consistent, but not comparable
    _put(store, older, _table(0.8, "c1"), {"fingerprint": "c1", "sweep": "s1", "planned_at": 5.0})
    _put(store, unplanned, _table(0.7, ""), None)

    rows, tables = trial_rows(store, GOLDEN, configs)
    status = {row["config_key"]: row["status"] for row in rows}
    assert status == {good: "ok", replaced: "stale", older: "stale", unplanned: "stale"}
    assert list(tables) == [good]
    reasons = {row["config_key"]: row["error"] for row in rows}
    assert "b2" in reasons[replaced] and "b1" in reasons[replaced]
    assert "sweep settings" in reasons[older] and "no sweep planned" in reasons[unplanned]
    board, _ = ranked_trials(store, GOLDEN, "mrr", configs)
    assert board.iloc[0]["config_key"] == good and board["status"].tolist()[1:] == ["stale"] * 3


def test_nothing_rankable_is_a_clear_error(tmp_path):
    store = _store(tmp_path)
    [key] = list(load_search_space().configs_by_key)[:1]
    _put(store, key, _table(0.9, "x"), {"fingerprint": "y", "sweep": "s", "planned_at": 1.0})
    with pytest.raises(ValueError, match=f"can be ranked: stale: table made by x.*{GOLDEN}|{GOLDEN}.*stale"):
        ranked_trials(store, GOLDEN, "mrr", {key: load_search_space().configs_by_key[key]})


def test_stale_reason_is_empty_for_the_planned_table():
    assert stale_reason(_table(0.5, "a"), {"fingerprint": "a", "sweep": "s"}, "s") == ""
    assert stale_reason(_table(0.5, "a"), {"fingerprint": "a", "sweep": "s"}, "t") != ""
