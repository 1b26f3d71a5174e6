"""Multi-fidelity evaluation: successive-halving rungs over the questions answered, and Ray
Tune's ASHA scheduler that stops weak configurations at each rung."""

from __future__ import annotations


def question_rungs(total: int, min_questions: int, reduction_factor: int) -> list[int]:
    """Successive-halving rungs over `total` questions: min_questions * reduction_factor**i
    below `total`, then `total` (Jamieson and Talwalkar, AISTATS 2016; Li et al., "A System for
    Massively Parallel Hyperparameter Tuning", MLSys 2020, for the asynchronous version).

    Raises:
        ValueError: if min_questions < 1 or reduction_factor < 2.
    """
    if min_questions < 1 or reduction_factor < 2:
        raise ValueError(f"need min_questions >= 1 and reduction_factor >= 2, got {min_questions}, {reduction_factor}")
    rungs, size = [], min_questions
    while size < total:
        rungs.append(size)
        size *= reduction_factor
    return [*rungs, total]


def multi_fidelity_scheduler(metric: str, rungs: list[int], reduction_factor: int):
    """Ray Tune's `ASHAScheduler` over questions answered (`generated_questions`; every
    configuration's retrieval tier covers every question from the first rung): at each rung of
    `rungs` (from `question_rungs`), a trial goes on only if its `metric` (maximised) is in the
    top 1/`reduction_factor` of the trials that reached that rung so far; the others stop there,
    with their metrics on the questions they answered. None when `rungs` is empty (every trial
    runs to the end)."""
    from ray.tune.schedulers import ASHAScheduler

    if not rungs:
        return None
    return ASHAScheduler(
        time_attr="generated_questions",
        metric=metric,
        mode="max",
        max_t=rungs[-1],
        grace_period=rungs[0],
        reduction_factor=reduction_factor,
    )
