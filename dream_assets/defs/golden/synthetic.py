"""The synthetic part of `golden_dataset`: its questions generated over Ray tasks, at a fixed
size or in rounds sized to the decision (`dream_assets.lib.golden.sizing`, scored by
`RoundScorer`), with a progress bar on the terminal and each task and round in Dagster's log."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tqdm import tqdm

from dream_assets.defs.golden.sizing import RoundScorer
from dream_assets.defs.readers import read_parsed_documents
from dream_assets.defs.workers import WorkerSettings
from dream_assets.lib.golden.sizing import SizingRule
from dream_assets.lib.golden.synthetic import generate_in_rounds, generate_synthetic_golden
from dream_assets.lib.golden.synthetic_settings import SyntheticSettings

if TYPE_CHECKING:
    from dream_assets.defs.golden.assets import GoldenDatasetConfig


def sizing_rule(config: GoldenDatasetConfig) -> SizingRule:
    """The rounds' sizes, stability rule and budgets of `config`."""
    return SizingRule(
        first_round_per_document=config.questions_per_document or 3,
        round_per_document=config.round_questions_per_document,
        stable_rounds=config.stable_rounds,
        max_interval_width=config.max_interval_width,
        max_minutes=config.max_generation_minutes,
        max_llm_calls=config.max_llm_calls,
    )


def generate_synthetic(context, config: GoldenDatasetConfig, documents, workers: WorkerSettings):
    """Generates the synthetic set over Ray tasks, at a fixed size or in rounds sized to the
    decision, logging each finished task and drawing a progress bar on the terminal; near
    duplicates are found with the embedding model of `SyntheticSettings.dedupe_embedding_model`."""
    import numpy as np

    from dream_assets.lib.models.embeddings import make_embedding

    settings = SyntheticSettings(
        questions_per_document=config.questions_per_document or 3,
        kinds=config.question_kinds,
        chunk_size=config.chunk_size,
        seed=config.seed,
        max_attempts=config.max_attempts,
        languages=config.languages,
    )
    embed_model = make_embedding(workers.embedding(settings.dedupe_embedding_model))

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(embed_model.get_text_embedding_batch(texts))

    # a JSON question and answer of bounded length fit in 256 tokens
    llm_settings = workers.llm(config.generator_llm).model_copy(update={"max_tokens": 256})
    workers.ray_cluster.connect()
    bar = tqdm(total=len(documents), desc="synthetic golden set", unit="doc", file=sys.stderr)

    def progress(done: int, total: int, kept: int, failed: int) -> None:
        if done < bar.n:  # a new round
            bar.reset()
        bar.update(done - bar.n)
        bar.set_postfix(questions=kept, failed=failed)
        context.log.info("synthetic golden set: %d/%d documents, %d questions, %d failed", done, total, kept, failed)

    options = (llm_settings, workers.llm_cache_dir, config.documents_per_task, config.max_workers, progress, embed)
    try:
        if not config.sized_to_decision:
            return generate_synthetic_golden(documents, settings, *options)

        def decide(golden, round_index: int, llm_calls: int, seconds: float):
            outcome = scorer(golden, round_index, llm_calls, seconds)
            bar.set_description(f"synthetic golden set, round {round_index + 1}")
            context.log.info(
                "golden set round %d: %d questions, tier 1 holds %d of %d configurations, winner %s"
                " (interval %.3f wide)",
                round_index, outcome.questions, len(outcome.tier_1), outcome.configurations, outcome.winner,
                outcome.interval_width,
            )  # fmt: skip
            return outcome

        def read_documents(parser: str):
            return read_parsed_documents(context.instance, workers.object_store.client(), workers.corpus, parser)

        scorer = RoundScorer(workers, read_documents, config.held_out_fraction, config.seed, config.split_unit)
        result = generate_in_rounds(documents, settings, sizing_rule(config), decide, *options)
        context.log.info("golden set: %s", result.sizing_note)
        return result
    finally:
        bar.close()
