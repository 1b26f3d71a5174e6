"""How much evidence the leaderboard holds, and what the retrieval tier costs, on the state a
`make demo` left (its golden set, indexes and trial tables under DREAM_HOME):

1. separability: configurations separable from the best at alpha = 0.05 after Holm's
   correction, and the width of the winner's MRR interval, with the old demo's 18 questions (3
   per document of the first 6, seeded) against every selection question of the new defaults;
2. the winner's curse: over 20 seeded held-out splits, the chosen configuration's selection MRR
   against its held-out MRR (the optimism), and how often the held-out winner differs;
3. the retrieval tier's wall time: one embedding pass per model, then seconds per 1,000
   questions per configuration, for 1,000, 2,000 and all questions and for 12 and 24
   configurations (the grid, and its BM25 twins), with the per-question cost of BM25 and hybrid.

Usage: python benchmarks/bench_evidence.py [--splits N] [--no-timing | --timing-only]
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _state():
    from dream_assets import layout
    from dream_assets.corpus import current_corpus
    from dream_assets.defs.readers import read_current_golden
    from dream_assets.deployments import local_resources, state_dir
    from dream_assets.search_space import load_search_space

    CONFIGS_BY_KEY = load_search_space().configs_by_key  # noqa: N806

    resources = local_resources(state_dir(), str(ROOT / "data" / "demo" / "squad" / "pdfs"))
    store = resources["object_store"].client()
    version, questions, contexts = read_current_golden(store, current_corpus(store))
    tables = {
        key: store.read_parquet(layout.trial_key(version, key))
        for key in CONFIGS_BY_KEY
        if store.exists(layout.trial_key(version, key))
    }
    return resources, store, version, questions, contexts, tables


def _tier_summary(tables: dict[str, pd.DataFrame], ids) -> tuple[int, float, str, int]:
    """(configurations outside tier 1, winner's MRR interval width, winner, questions)."""
    from dream_assets.lib.evaluation.statistics import bootstrap_ci, holm_tiers

    sliced = {key: table[table["question_id"].isin(ids)] for key, table in tables.items()}
    means = {key: table["mrr"].mean() for key, table in sliced.items()}
    order = sorted(means, key=lambda key: (-means[key], key))
    tiers = holm_tiers(sliced, order, "mrr")
    low, high = bootstrap_ci(sliced[order[0]]["mrr"])
    return sum(row["tier"] > 1 for row in tiers.values()), high - low, order[0], len(set(ids))


def separability(questions: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    old_documents = sorted(questions["document_id"].unique())[:6]
    old = questions[questions["document_id"].isin(old_documents)].groupby("document_id").sample(3, random_state=0)
    new = questions[questions["split"] == "selection"] if "split" in questions else questions
    print(f"\n1. separability ({len(tables)} configurations, retrieval MRR, Holm-corrected at alpha 0.05)")
    for name, ids in (
        ("old demo: 18 questions", old["question_id"]),
        ("new defaults: selection split", new["question_id"]),
    ):
        separable, width, winner, n = _tier_summary(tables, ids)
        print(f"   {name:32s} n={n:5d}: {separable:2d} of {len(tables) - 1} separable from the best;"
              f" winner {winner}, MRR 95% CI width {width:.3f}")  # fmt: skip


def winners_curse(questions: pd.DataFrame, tables: dict[str, pd.DataFrame], splits: int) -> None:
    from dream_assets.lib.golden.splits import HELD_OUT, split_golden

    per_question = pd.DataFrame({key: table.set_index("question_id")["mrr"] for key, table in tables.items()})
    optimism, differs = [], 0
    for seed in range(splits):
        split, _ = split_golden(questions, 0.3, seed=seed)
        held_ids = questions.loc[split == HELD_OUT, "question_id"]
        held = per_question.loc[per_question.index.isin(held_ids)].mean()
        selection = per_question.loc[~per_question.index.isin(held_ids)].mean()
        chosen = selection.idxmax()
        optimism.append(selection[chosen] - held[chosen])
        differs += held.idxmax() != chosen
    print(f"\n2. winner's curse over {splits} seeded 70/30 splits (stratified by document), retrieval MRR:")
    print(f"   optimism (selection - held-out MRR of the chosen): mean {np.mean(optimism):+.4f},"
          f" sd {np.std(optimism, ddof=1):.4f}, range [{min(optimism):+.4f}, {max(optimism):+.4f}]")  # fmt: skip
    print(f"   held-out winner differs from the selected one in {differs} of {splits} splits")


def retrieval_timing(resources, store, version: str, questions, contexts, tables) -> None:
    from dream_assets.corpus import current_corpus
    from dream_assets.defs.workers import WorkerSettings
    from dream_assets.lib.evaluation.tiers import retrieve_questions
    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.retrieval.index_spec import load_retriever
    from dream_assets.lib.retrieval.query_embeddings import read_query_embeddings
    from dream_assets.search_space import load_search_space

    space = load_search_space()
    configs = [space.configs_by_key[key] for key in tables]
    roles = ("object_store", "embeddings", "llms", "vector_store", "ray_cluster")
    workers = WorkerSettings(*(resources[role] for role in roles), space, current_corpus(store))
    print(f"\n3. retrieval tier, {len(questions)} questions (in-process, 2 cores):")
    for model in sorted({config.embedding_model for config in configs}):
        embed = make_embedding(resources["embeddings"].settings_for(model))
        start = time.perf_counter()
        embed.get_text_embedding_batch(questions["user_input"].tolist())
        print(f"   one embedding pass, {model}: {time.perf_counter() - start:.1f} s")
    retrievers = {}
    sizes = [size for size in (1000, 2000) if size < len(questions)] + [len(questions)]
    seconds: dict[tuple[str, int], float] = {}
    for mode in ("vector", "bm25", "hybrid"):
        for config in configs:
            spec = workers.index(config.index_key)
            if (config.index_key, mode) not in retrievers:
                retrievers[config.index_key, mode] = load_retriever(spec, config.top_k, retriever=mode)
            retriever = retrievers[config.index_key, mode]
            retriever.top_k = config.top_k
            embeddings = read_query_embeddings(store, version, config.embedding_model) if mode != "bm25" else None
            for size in sizes if mode != "hybrid" else sizes[-1:]:  # hybrid: per-question cost only
                subset = questions.iloc[:size]
                start = time.perf_counter()
                retrieve_questions(subset, contexts, retriever, embeddings)
                seconds[f"{config.key}_{mode}", size] = time.perf_counter() - start
    for mode in ("vector", "bm25", "hybrid"):
        keys = [key for key, size in seconds if key.endswith(f"_{mode}") and size == len(questions)]
        per_question = [seconds[key, len(questions)] / len(questions) * 1000 for key in keys]
        print(f"   {mode:6s}: {np.median(per_question):.2f} ms per question per configuration"
              f" (range {min(per_question):.2f}-{max(per_question):.2f}), scoring included")  # fmt: skip
    for size in sizes:
        grid = sum(seconds[f"{c.key}_vector", size] for c in configs)
        twins = grid + sum(seconds[f"{c.key}_bm25", size] for c in configs)
        print(f"   {size:5d} questions: {len(configs)} configurations {grid:6.1f} s"
              f" ({grid / len(configs) / size * 1000:.2f} s per 1,000 questions per configuration);"
              f" {2 * len(configs)} (with BM25 twins) {twins:6.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--no-timing", action="store_true", help="skip the retrieval-tier timing")
    parser.add_argument("--timing-only", action="store_true", help="only the retrieval-tier timing")
    args = parser.parse_args()
    resources, store, version, questions, contexts, tables = _state()
    if not tables:
        raise SystemExit("no trial tables on the current golden set: run `make demo` first (same DREAM_HOME)")
    print(f"golden set {version}: {len(questions)} questions, {questions['document_id'].nunique()} documents")
    if not args.timing_only:
        separability(questions, tables)
        winners_curse(questions, tables, args.splits)
    if not args.no_timing:
        retrieval_timing(resources, store, version, questions, contexts, tables)


if __name__ == "__main__":
    main()
