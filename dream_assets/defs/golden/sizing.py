"""The retrieval tier a synthetic golden set is sized on, round after round
(`dream_assets.lib.golden.sizing`): every configuration of the search space that retrieves
without a trained reranker, on the corpus' current embedding indexes."""

from __future__ import annotations

import logging

import pandas as pd

from dream_assets.defs.workers import WorkerSettings
from dream_assets.lib.golden.alignment import align_contexts
from dream_assets.lib.golden.sizing import RoundOutcome, round_outcome
from dream_assets.lib.golden.splits import SELECTION, split_golden
from dream_assets.lib.golden.squad import GoldenDataset
from dream_assets.rag_config import slug_of

logger = logging.getLogger(__name__)


class RoundScorer:
    """Scores a golden set's questions on the retrieval tier of each configuration, keeping each
    question's score across rounds (a round retrieves only its new questions).

    A configuration is its retrieval part (`RagConfig.key` less the LLM, which retrieval does
    not use); one with a reranker is left out (the fine-tuned one is trained on the golden set
    being built), as is one whose index was never built on the corpus or was built on another
    version of it (`skipped`, with the reason).

    Args:
        workers: the run's resources and search space (the indexes are the corpus' current ones).
        read_documents: a parser's parsed documents of the corpus (the golden contexts are
            aligned into their text for configurations of another parser than the golden one).
        held_out_fraction, seed, split_unit: the golden set's split (`split_golden`), whose
            selection questions are ranked on, as the leaderboard does.
    """

    def __init__(self, workers: WorkerSettings, read_documents, held_out_fraction: float, seed: int, split_unit):
        space = workers.search_space
        self.workers, self.read_documents = workers, read_documents
        self.split = (held_out_fraction, seed, split_unit)
        self.configs = {}
        for config in space.configs():
            if config.reranker == "none":  # configurations that differ only in their LLM retrieve alike
                self.configs.setdefault(config.key.replace(f"_{slug_of(config.llm)}_k", "_k"), config)
        self.retrievers, self.scores, self.contexts, self.versions = {}, {}, {}, {}
        self.skipped: dict[str, str] = {}

    def __call__(self, golden: GoldenDataset, round_index: int, llm_calls: int, seconds: float) -> RoundOutcome:
        """The `RoundOutcome` of the set so far (`dream_assets.lib.golden.synthetic.generate_in_rounds`' `decide`)."""
        questions = golden.questions
        split, _ = split_golden(questions, *self.split)
        selection = set(questions.loc[split == SELECTION, "question_id"])
        tables = self.tables(questions, golden.contexts)
        return round_outcome(round_index, tables, selection, len(questions), llm_calls, seconds)

    def tables(self, questions: pd.DataFrame, contexts: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Per configuration, `question_id` and `mrr` of every question in `questions`."""
        from dream_assets.lib.evaluation.tiers import retrieve_questions

        tables = {}
        for key, config in self.configs.items():
            retriever = self._retriever(key, config)
            if retriever is None:
                continue
            known = self.scores.setdefault(key, {})
            new = questions[~questions["question_id"].isin(known)]
            if len(new):
                scored = retrieve_questions(new, self._contexts(config.parser, contexts), retriever)
                known.update(zip(scored["question_id"], scored["mrr"], strict=True))
            ids = questions["question_id"]
            tables[key] = pd.DataFrame({"question_id": ids, "mrr": ids.map(known).astype(float)})
        return tables

    def _retriever(self, key: str, config):
        """The configuration's retriever, opened once; None when its index cannot be read."""
        from dream_assets.lib.retrieval.index_spec import load_retriever

        if key in self.skipped:
            return None
        if key not in self.retrievers:
            try:
                pointer = self.workers.index_pointer(config.index_key)
            except FileNotFoundError:
                pointer = None
            built_on = pointer and pointer.get("corpus_version", self._corpus_version(config.parser))
            if pointer is None or built_on != self._corpus_version(config.parser):
                # a refresh rebuilds only the indexes of the configurations it evaluates
                state = "never built" if pointer is None else "built on another version of the corpus"
                self.skipped[key] = f"index {config.index_key} {state}"
                logger.warning("sizing the golden set without %s: its %s", key, self.skipped[key])
                return None
            spec = self.workers.index(config.index_key, pointer)
            self.retrievers[key] = load_retriever(spec, config.top_k, None, config.retriever)
        return self.retrievers[key]

    def _corpus_version(self, parser: str) -> str:
        """The version of the corpus as `parser` parsed it (`corpus_version`), read once."""
        from dream_assets.lib.retrieval.indexes import corpus_version

        if parser not in self.versions:
            self.versions[parser] = corpus_version(list(self.read_documents(parser).values()))
        return self.versions[parser]

    def _contexts(self, parser: str, contexts: pd.DataFrame) -> pd.DataFrame:
        """The golden contexts in `parser`'s text (aligned once: every round has the same)."""
        if parser == self.workers.search_space.golden_parser:
            return contexts
        if parser not in self.contexts:
            self.contexts[parser] = align_contexts(contexts, self.read_documents(parser))
        return self.contexts[parser]
