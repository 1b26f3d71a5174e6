"""The report's per-question views: the questions a configuration misses, those the tier-1
configurations disagree on (with their reference and retrieved contexts), and the golden set's
make-up."""

from __future__ import annotations

import pandas as pd

# How much of a context the per-question view shows (characters).
CONTEXT_CHARS = 400
# Rows of each per-question table.
QUESTION_ROWS = 25


def _clip(text, limit: int = CONTEXT_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first(values) -> str:
    """The first of a list-like cell ('' when empty or missing)."""
    if values is None or isinstance(values, float):
        return ""
    values = list(values)
    return str(values[0]) if values else ""


def _clip_first(values) -> str:
    return _clip(_first(values))


def _spread(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` taken one document at a time (each document's first, then each one's second, …),
    so that the first rows shown cover every document."""
    turn = rows.groupby("document_id", sort=False).cumcount()
    return rows.assign(_turn=turn.to_numpy()).sort_values("_turn", kind="stable").drop(columns="_turn")


def missed_questions(trial: pd.DataFrame, limit: int = QUESTION_ROWS) -> pd.DataFrame:
    """The questions configuration `trial` retrieved no reference context for (hit rate 0),
    with the first reference context and the top retrieved one, at most `limit` rows (in the
    golden set's order, one document at a time: `_spread`).

    Returns:
        Columns question_id, document, split, question, reference context, top retrieved context.
    """
    if "hit_rate" not in trial:
        return pd.DataFrame()
    missed = _spread(trial[trial["hit_rate"].eq(0)].drop_duplicates("question_id")).head(limit)
    return pd.DataFrame(
        {
            "question_id": missed["question_id"],
            "document": missed["document_id"],
            "split": missed.get("split", ""),
            "question": missed["user_input"].map(_clip),
            "reference answer": missed["reference"].map(_clip) if "reference" in missed else "",
            "reference context": missed["reference_contexts"].map(_clip_first),
            "top retrieved context": missed["retrieved_contexts"].map(_clip_first),
        }
    ).reset_index(drop=True)


def disagreements(trials: dict[str, pd.DataFrame], keys: list[str], limit: int = QUESTION_ROWS) -> pd.DataFrame:
    """The questions on which configurations `keys` (tier 1) disagree: some retrieve a reference
    context (hit rate 1), others none, with which do, at most `limit` rows.

    Returns:
        Columns question_id, document, question, retrieved by, missed by, reference context;
        empty with fewer than two configurations.
    """
    keys = [key for key in keys if key in trials and "hit_rate" in trials[key]]
    if len(keys) < 2:
        return pd.DataFrame()
    hits = pd.DataFrame(
        {key: trials[key].drop_duplicates("question_id").set_index("question_id")["hit_rate"] for key in keys}
    ).dropna()
    first = trials[keys[0]].drop_duplicates("question_id").set_index("question_id")
    split = hits[(hits.max(axis=1) > 0) & (hits.min(axis=1) == 0)]
    order = _spread(first.loc[split.index, ["document_id"]]).index
    split = split.loc[order].head(limit)
    return pd.DataFrame(
        {
            "question_id": split.index,
            "document": first.loc[split.index, "document_id"].to_numpy(),
            "question": first.loc[split.index, "user_input"].map(_clip).to_numpy(),
            "retrieved by": [", ".join(k for k in keys if row[k] > 0) for _, row in split.iterrows()],
            "missed by": [", ".join(k for k in keys if row[k] == 0) for _, row in split.iterrows()],
            "reference context": first.loc[split.index, "reference_contexts"].map(_clip_first).to_numpy(),
        }
    )


def golden_make_up(questions: pd.DataFrame) -> pd.DataFrame:
    """Questions of the golden set by document and kind (`question_kind`: human, single_hop,
    paraphrased, multi_hop; `synthesizer_name` for a set made before kinds) and split, with a
    total row."""
    unknown = pd.Series("unknown", index=questions.index)
    kind = questions.get("question_kind", unknown).fillna(questions.get("synthesizer_name", unknown)).fillna("unknown")
    split = questions.get("split", pd.Series("selection", index=questions.index)).fillna("selection")
    counts = pd.crosstab([questions["document_id"], kind], split, margins=True, margins_name="total")
    counts.index = counts.index.set_names(["document", "kind"])
    return counts.reset_index()
