"""A synthetic golden set sized to the decision it has to support.

Generating questions costs LLM calls and minutes; ranking configurations on too few of them gives
a verdict that cannot separate them (tier 1 holds most of the grid). So the set is generated in
rounds: after each round every configuration's retrieval tier (seconds each) is scored on the
questions so far, ranked and grouped into tiers exactly as the leaderboard does on the selection
split (mean MRR, Holm-corrected paired tests: `dream_assets.lib.evaluation.statistics.holm_tiers`),
and generation stops when the decision has settled or its budget is spent (`stop_reason`):

- `stable`: tier 1 and the winner were the same after each of the last `stable_rounds` rounds as
  before them, and the winner's 95% bootstrap interval is at most `max_interval_width` wide;
- `llm_call_budget` / `time_budget`: the next round, priced as the last, would pass the budget;
- `no_new_questions`: a round added no question (every context asked, or every item rejected);
- `no_configuration_scored`: no configuration's index could be read, so nothing can be decided.

This is the sequential design of adaptive evaluation (keep sampling until the comparison is
decided or the budget runs out), applied with the leaderboard's own statistics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd
from pydantic import BaseModel, Field

STOP_REASONS = {
    "stable": "tier 1 and the winner held",
    "llm_call_budget": "another round would pass the LLM-call budget",
    "time_budget": "another round would pass the time budget",
    "no_new_questions": "a round added no question",
    "no_configuration_scored": "no configuration's index could be read to score the rounds on",
}


class SizingRule(BaseModel):
    """When a synthetic golden set generated in rounds is large enough.

    Attributes:
        first_round_per_document: questions per document asked in the first round (shared by
            length, `dream_assets.lib.golden.synthetic_filters.question_counts`).
        round_per_document: questions per document asked in each later round (each round draws
            other contexts, terms and personas: its seed is the set's seed plus the round's index).
        stable_rounds: rounds in a row after which tier 1 and the winner must be unchanged.
        max_interval_width: widest 95% interval of the winner's mean MRR (selection split) at
            which the set is large enough; 0.2 is a winner known to within about 0.1 either way,
            the scale of the gaps between the bundled corpus' configurations.
        max_minutes: generation's time budget (wall clock, rounds and their scoring); the default
            leaves a first `dream run` on 20 PDFs and 2 CPUs within 30 minutes.
        max_llm_calls: LLM calls that reached the model (cache hits are free); 0: no limit.
        metric: the ranking metric (the leaderboard's default).
    """

    first_round_per_document: int = Field(default=3, ge=1)
    round_per_document: int = Field(default=2, ge=1)
    stable_rounds: int = Field(default=2, ge=1)
    max_interval_width: float = Field(default=0.2, gt=0)
    max_minutes: float = Field(default=18.0, gt=0)
    max_llm_calls: int = Field(default=0, ge=0)
    metric: str = "mrr"


@dataclass(frozen=True)
class RoundOutcome:
    """The decision after one round.

    Attributes:
        round: 1, 2, ...
        questions: questions in the set after it; `selection_questions` of them ranked on.
        configurations: configurations scored.
        winner: the best configuration by mean metric on the selection split ('' when none).
        tier_1: tier 1's configurations, sorted.
        winner_score: the winner's mean metric, with its 95% bootstrap interval
            (`ci95_low`, `ci95_high`; NaN with fewer than 2 questions).
        llm_calls: LLM calls so far; `seconds`: generation's wall time so far; both cumulative.
    """

    round: int
    questions: int
    selection_questions: int
    configurations: int
    winner: str
    tier_1: tuple[str, ...]
    winner_score: float
    ci95_low: float
    ci95_high: float
    llm_calls: int
    seconds: float

    @property
    def interval_width(self) -> float:
        """Width of the winner's 95% interval (NaN when it has none)."""
        return self.ci95_high - self.ci95_low

    def record(self) -> dict:
        """Plain data (JSON, a table row): the fields, tier 1 as a list and its size."""
        return {**asdict(self), "tier_1": list(self.tier_1), "tier_1_size": len(self.tier_1)}


def round_outcome(
    round_index: int,
    tables: dict[str, pd.DataFrame],
    selection_ids: set[str],
    questions: int,
    llm_calls: int,
    seconds: float,
    metric: str = "mrr",
) -> RoundOutcome:
    """Ranks the configurations on the selection split and groups them into tiers.

    Args:
        round_index: the round (1, 2, ...).
        tables: per configuration, per-question rows (`question_id`, `metric`) of every question.
        selection_ids: the question ids of the selection split (the leaderboard ranks on them).
        questions: questions in the set.
        llm_calls: LLM calls so far.
        seconds: generation's wall time so far.
        metric: the ranking metric.

    Returns:
        The `RoundOutcome`; with no table, an empty winner and tier 1.
    """
    from dream_assets.lib.evaluation.statistics import bootstrap_ci, holm_tiers

    sliced = {key: table[table["question_id"].isin(selection_ids)] for key, table in tables.items()}
    means = pd.Series({key: table[metric].mean() for key, table in sliced.items()}, dtype=float)
    order = means.dropna().sort_values(ascending=False, kind="stable").index.tolist()
    if not order:
        return RoundOutcome(round_index, questions, len(selection_ids), 0, "", (), math.nan, math.nan, math.nan,
                            llm_calls, seconds)  # fmt: skip
    tiers = holm_tiers(sliced, order, metric)
    winner = order[0]
    low, high = bootstrap_ci(sliced[winner][metric])
    tier_1 = tuple(sorted(key for key, row in tiers.items() if row["tier"] == 1))
    return RoundOutcome(round_index, questions, len(selection_ids), len(order), winner, tier_1,
                        float(means[winner]), low, high, llm_calls, seconds)  # fmt: skip


def stop_reason(history: list[RoundOutcome], rule: SizingRule) -> str | None:
    """Why generation stops after the last round of `history` (a key of `STOP_REASONS`), or None
    to ask another round. Stability is checked first, then whether a round added nothing, then
    the budgets: the next round is assumed to cost what the last one did per question asked
    (its cost times `round_per_document` over the last round's questions per document).

    Raises:
        ValueError: if `history` is empty.
    """
    if not history:
        raise ValueError("no round to decide on")
    last = history[-1]
    if not last.configurations:
        return "no_configuration_scored"
    recent = history[-(rule.stable_rounds + 1) :]
    held = len(recent) == rule.stable_rounds + 1 and all(
        outcome.winner == last.winner and outcome.tier_1 == last.tier_1 for outcome in recent
    )
    if held and last.interval_width <= rule.max_interval_width:
        return "stable"
    previous = history[-2] if len(history) > 1 else None
    if previous is not None and last.questions <= previous.questions:
        return "no_new_questions"
    # the next round costs what the last did per question asked (the first round asks more)
    scale = rule.round_per_document / (rule.first_round_per_document if previous is None else rule.round_per_document)
    next_calls = scale * (last.llm_calls - (previous.llm_calls if previous else 0))
    next_seconds = scale * (last.seconds - (previous.seconds if previous else 0.0))
    if rule.max_llm_calls and last.llm_calls + next_calls > rule.max_llm_calls:
        return "llm_call_budget"
    if last.seconds + next_seconds > rule.max_minutes * 60:
        return "time_budget"
    return None


def sizing_note(history: list[RoundOutcome], reason: str, rule: SizingRule) -> str:
    """One sentence: how many rounds, why generation stopped, and where the decision stood
    (tier 1's size, the winner and its interval against the target)."""
    last = history[-1]
    rounds = f"{len(history)} round{'s' if len(history) != 1 else ''}"
    if reason == "no_configuration_scored":
        return f"synthetic questions generated in {rounds}; stopped: {STOP_REASONS[reason]}"
    width = f"{last.interval_width:.3f}" if not math.isnan(last.interval_width) else "undefined"
    stood = (
        f"tier 1 held {len(last.tier_1)} of {last.configurations} configurations, winner {last.winner}"
        f" ({rule.metric} {last.winner_score:.3f}, 95% interval {width} wide; target {rule.max_interval_width})"
    )
    spent = f"{last.llm_calls} LLM calls, {last.seconds / 60:.1f} min"
    held = {
        "stable": f" for {rule.stable_rounds} rounds",
        "time_budget": f" ({rule.max_minutes:g} min)",
        "llm_call_budget": f" ({rule.max_llm_calls} calls)",
    }.get(reason, "")
    return (
        f"synthetic questions generated in {rounds} ({last.questions} questions, {spent});"
        f" stopped: {STOP_REASONS[reason]}{held}; {stood}"
    )
