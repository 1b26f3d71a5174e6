"""The generation tier of one trial: the sampled questions answered by the configuration's LLM,
each answer made durable in the object store as it completes, so an interrupted trial answers
only what it had not (`dream_assets.lib.evaluation.trial`)."""

from __future__ import annotations

import contextlib
import time

import pandas as pd
from llama_index.core.llms import LLM

from dream_assets.lib.evaluation.trial_settings import TimeBudgetSpent, TrialSettings


class Answerer:
    """The generation tier of one trial: answers (question, repeat) pairs not answered yet, each
    made durable as it completes, and assembles the per-question table."""

    def __init__(self, store, settings: TrialSettings, retrieved: pd.DataFrame, started: float | None = None) -> None:
        """`started`: when the trial started (`time.monotonic()`; default now), from which its
        `time_budget_s` counts."""
        from dream_assets.lib.llm.rate_limit import rate_limiter_for

        self.store, self.settings, self.retrieved = store, settings, retrieved
        budget = settings.time_budget_s
        self.deadline = (started if started is not None else time.monotonic()) + budget if budget else None
        llm = settings.llm
        self.repeats = [llm.model_copy(update={"seed": llm.seed + r}) for r in range(settings.repeats)]
        self.llms: dict[int, LLM] = {}
        self.reserve = rate_limiter_for(llm.name, llm.requests_per_minute, llm.tokens_per_minute)
        if not settings.resume:
            store.delete(settings.parts_prefix)
        # every answer of this fingerprint so far, by (question, repeat): read once, then kept here
        self.answers = {(row["question_id"], row["repeat"]): row for row in self._parts()}
        self.resumed = set(self.answers)  # answered by an earlier, interrupted run

    def _parts(self) -> list[dict]:
        parts = [self.store.read_parquet(info.key) for info in self.store.list(self.settings.parts_prefix)]
        if not parts:
            return []
        earlier = pd.concat(parts, ignore_index=True)
        earlier = earlier[earlier["question_id"].isin(self.retrieved.index)]
        return earlier.drop_duplicates(["question_id", "repeat"]).to_dict("records")

    def _keep(self, row: dict) -> None:
        """Keeps one answer (made durable), then stops the trial if its time budget is spent.

        Raises:
            TimeBudgetSpent: when the trial has run past `time_budget_s`.
        """
        self.answers[(row["question_id"], row["repeat"])] = row
        name = f"{row['question_id']}.r{row['repeat']}.parquet"
        self.store.write_parquet(f"{self.settings.parts_prefix}/{name}", pd.DataFrame([row]))
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeBudgetSpent(
                f"trial {self.settings.config.key} spent its time budget of {self.settings.time_budget_s:g} s"
                f" after {len(self.answers)} answers (time_budget_s); they are kept, and a run again resumes"
                " from them"
            )

    def answer(self, question_ids: list[str]) -> None:
        """Answers each question in every repeat, unless answered already."""
        from dream_assets.lib.evaluation.tiers import answer_questions
        from dream_assets.lib.llm.generation import answer_stop
        from dream_assets.lib.llm.settings import make_llm

        for repeat, llm_settings in enumerate(self.repeats):
            todo = [question_id for question_id in question_ids if (question_id, repeat) not in self.answers]
            if not todo:
                continue
            if repeat not in self.llms:
                self.llms[repeat] = make_llm(llm_settings, stop=answer_stop(llm_settings))
            rows = self.retrieved.loc[todo].reset_index(drop=True).assign(repeat=repeat)
            with _llm_cache(self.settings.llm_cache_dir) as cache:
                llm = self.llms[repeat]
                answer_questions(
                    rows, llm, llm_settings, self._keep, cache, self.reserve, metrics=self.settings.metrics
                )

    def table(self, answered_ids: list[str]) -> pd.DataFrame:
        """Every question once with its retrieval tier, and each answered one once per repeat,
        in golden-set order; `resumed` marks answers of an earlier run."""
        from dream_assets.lib.evaluation.tiers import not_generated

        answered, rows = set(answered_ids), []
        for question_id, row in zip(self.retrieved.index, self.retrieved.to_dict("records"), strict=True):
            if question_id not in answered:
                rows.append({**row, **not_generated(), "repeat": 0, "resumed": False})
                continue
            for repeat in range(len(self.repeats)):
                rows.append({**self.answers[(question_id, repeat)], "resumed": (question_id, repeat) in self.resumed})
        return pd.DataFrame(rows)


@contextlib.contextmanager
def _llm_cache(directory: str):
    """A process-safe on-disk cache (`dream_assets.lib.response_cache`: JSON in SQLite) at
    `directory` on this node's disk (`dream_assets.lib.node_local`), or None when empty."""
    if not directory:
        yield None
        return
    from dream_assets.lib.node_local import node_local
    from dream_assets.lib.response_cache import ResponseCache

    with ResponseCache(node_local(directory)) as cache:
        yield cache
