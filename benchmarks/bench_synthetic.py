"""Does a synthetic golden set rank configurations as human questions do? (issue 34)

On the bundled corpus (16 Wikipedia articles with their SQuAD questions): a synthetic set is
generated with the shipped defaults (`SyntheticSettings`: 3 questions per document on average,
spread by length and position, single-hop, paraphrased and multi-hop) on 2 Ray workers, in
rounds sized to the decision (`dream_assets.lib.golden.sizing`, scored on the configurations
below, 18 minutes' budget) unless `--fixed`; every
configuration of the shipped grid with each retriever (vector, BM25 once per chunking and top-k,
hybrid) is scored on retrieval (MRR, hit rate) on the synthetic set and on every answerable
human question. Prints:

- generation: wall time, questions by kind, rejections by reason, examples of each kind;
- lexical overlap (share of a question's content words found in its reference contexts) of the
  human questions and of each synthetic kind;
- Kendall's tau and Spearman's rho between the synthetic and the human ranking (by MRR), over
  all configurations and per kind of question;
- tier 1 on each set (paired tests, Holm-corrected: `holm_tiers`) and their overlap, whether
  the synthetic winner is inside the human tier 1;
- the held-out verdict: on the human held-out split (30%, seeded), the MRR of the configuration
  the synthetic set picks against that of the human winner (picked on the human selection split).

With `--write`, the figures are stored for the generating LLM in
`dream_assets/config/synthetic_agreement.json`, which a leaderboard of synthetic questions quotes
(`dream_assets.lib.golden.agreement`).

Usage: python benchmarks/bench_synthetic.py [--documents N] [--per-document N] [--llm NAME] [--fixed]
       [--minutes M] [--write]
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PDFS = ROOT / "data" / "demo" / "squad" / "pdfs"


def parse_corpus(count: int) -> dict:
    """The first `count` demo PDFs by name, parsed (document id → ParsedDocument)."""
    from dream_assets.hashing import slugify
    from dream_assets.lib.documents.pypdf_parser import parse_pdf

    documents = {}
    for path in sorted(PDFS.glob("*.pdf"))[:count]:
        document_id = slugify(path.stem)
        documents[document_id] = parse_pdf(document_id, path.read_bytes())
    return documents


def configurations() -> list:
    """The shipped grid with each retriever; BM25 reads no embedding, so it is kept once per
    chunking and top-k (with the grid's first embedding model)."""
    from dream_assets.search_space import load_search_space

    grid, chosen = load_search_space().configs(), {}
    first_model = grid[0].embedding_model
    for config in grid:
        for retriever in ("vector", "bm25", "hybrid"):
            if retriever == "bm25" and config.embedding_model != first_model:
                continue
            variant = config.model_copy(update={"retriever": retriever})
            chosen.setdefault(variant.key.replace(f"_{config.llm}", ""), variant)
    return list(chosen.values())


def open_retrievers(documents: dict, models_dir: str) -> dict:
    """Builds every configuration's index (once per index key) and opens its retriever:
    {configuration (key less the LLM): Retriever}."""
    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.retrieval.indexes import build_index
    from dream_assets.lib.retrieval.retriever import Retriever
    from resources.embeddings import EmbeddingProvider

    provider, built, models, retrievers = EmbeddingProvider(models_dir=models_dir), {}, {}, {}
    ordered = [documents[key] for key in sorted(documents)]
    for config in configurations():
        if config.embedding_model not in models:
            models[config.embedding_model] = make_embedding(provider.settings_for(config.embedding_model))
        embed_model = models[config.embedding_model]
        if config.index_key not in built:
            directory = tempfile.mkdtemp(prefix=f"bench-synthetic-{config.index_key}-")
            start = time.perf_counter()
            build_index(ordered, config.retrieval, embed_model, directory)
            print(f"  index {config.index_key}: {time.perf_counter() - start:.0f} s", flush=True)
            built[config.index_key] = directory
        retrievers[config.key.replace(f"_{config.llm}", "")] = Retriever(
            built[config.index_key], config.retrieval, embed_model, config.top_k, retriever=config.retriever
        )
    return retrievers


def score(retrievers: dict, sets: dict, quiet: bool = False) -> dict[str, dict[str, pd.DataFrame]]:
    """Per-question retrieval metrics of every configuration on every golden set:
    {set name: {configuration: DataFrame(question_id, mrr, hit_rate)}}."""
    from dream_assets.lib.evaluation.formulas import hit_rate, reciprocal_rank
    from dream_assets.lib.retrieval.context_matching import ContextCatalogue

    catalogues = {name: ContextCatalogue(golden.contexts) for name, golden in sets.items()}
    tables: dict[str, dict[str, pd.DataFrame]] = {name: {} for name in sets}
    for key, retriever in retrievers.items():
        start = time.perf_counter()
        for name, golden in sets.items():
            questions = golden.questions
            retrieved = retriever.retrieve_batch(questions["user_input"].tolist(), retriever.top_k)
            rows = []
            for row, contexts in zip(questions.itertuples(), retrieved, strict=True):
                covered = [catalogues[name].covered(context) for context in contexts]
                rows.append((row.question_id, reciprocal_rank(covered, row.reference_context_ids),
                             hit_rate(covered, row.reference_context_ids)))  # fmt: skip
            tables[name][key] = pd.DataFrame(rows, columns=["question_id", "mrr", "hit_rate"])
        if not quiet:
            print(f"  {key}: {time.perf_counter() - start:.0f} s", flush=True)
    return tables


def sized_decision(retrievers: dict):
    """`generate_in_rounds`' `decide` on the benchmark's configurations: each round's set ranked
    and tiered on its selection split (30% held out, seed 0), as `dream run` does."""
    from dream_assets.lib.golden.sizing import round_outcome
    from dream_assets.lib.golden.splits import SELECTION, split_golden

    def decide(golden, round_index: int, llm_calls: int, seconds: float):
        split, _ = split_golden(golden.questions, 0.3, 0, "question")
        selection = set(golden.questions.loc[split == SELECTION, "question_id"])
        tables = score(retrievers, {"synthetic": golden}, quiet=True)["synthetic"]
        outcome = round_outcome(round_index, tables, selection, len(golden.questions), llm_calls, seconds)
        print(f"  round {round_index}: {outcome.questions} questions, tier 1 {len(outcome.tier_1)} of"
              f" {outcome.configurations}, winner {outcome.winner} {outcome.winner_score:.3f}"
              f" [{outcome.ci95_low:.3f}, {outcome.ci95_high:.3f}], {llm_calls} LLM calls, {seconds:.0f} s",
              flush=True)  # fmt: skip
        return outcome

    return decide


def ranking(tables: dict[str, pd.DataFrame], ids=None) -> pd.Series:
    """Mean MRR by configuration (on the questions `ids` when given), best first."""
    means = {key: (table if ids is None else table[table["question_id"].isin(ids)])["mrr"].mean()
             for key, table in tables.items()}  # fmt: skip
    return pd.Series(means).sort_values(ascending=False, kind="stable")


def tier_one(tables: dict[str, pd.DataFrame], ids=None) -> set[str]:
    """Tier 1 (`holm_tiers` on MRR) of the configurations on the questions `ids` (all: None)."""
    from dream_assets.lib.evaluation.statistics import holm_tiers

    sliced = {key: table if ids is None else table[table["question_id"].isin(ids)] for key, table in tables.items()}
    order = ranking(sliced).index.tolist()
    return {key for key, row in holm_tiers(sliced, order, "mrr").items() if row["tier"] == 1}


def agreement(human: pd.Series, synthetic: pd.Series) -> tuple[float, float]:
    """(Kendall's tau-b, Spearman's rho) between two rankings' scores, over their common keys."""
    from scipy.stats import kendalltau, spearmanr

    keys = sorted(set(human.index) & set(synthetic.index))
    h, s = human[keys].to_numpy(), synthetic[keys].to_numpy()
    tau, rho = kendalltau(h, s), spearmanr(h, s)
    return float(getattr(tau, "statistic")), float(getattr(rho, "statistic"))  # noqa: B009 - scipy's result types


def main() -> None:
    """Prints every figure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=16, help="demo PDFs used")
    parser.add_argument("--per-document", type=int, default=3, help="synthetic questions per document on average")
    parser.add_argument("--llm", default="qwen2.5-coder-0.5b-instruct", help="generating LLM")
    parser.add_argument("--write", action="store_true", help="store the agreement for the leaderboard to quote")
    parser.add_argument("--fixed", action="store_true", help="a fixed-size set (--per-document), not sized in rounds")
    parser.add_argument("--minutes", type=float, default=18.0, help="sized: generation's time budget")
    args = parser.parse_args()

    import ray

    from dream_assets import package_data
    from dream_assets.lib.evaluation.statistics import bootstrap_ci
    from dream_assets.lib.golden.sizing import SizingRule
    from dream_assets.lib.golden.splits import HELD_OUT, split_golden
    from dream_assets.lib.golden.squad import squad_golden_dataset
    from dream_assets.lib.golden.synthetic import generate_in_rounds, generate_synthetic_golden
    from dream_assets.lib.golden.synthetic_filters import lexical_overlap
    from dream_assets.lib.golden.synthetic_settings import SyntheticSettings
    from dream_assets.lib.models.embeddings import make_embedding
    from resources.embeddings import EmbeddingProvider
    from resources.llm import LlmProvider
    from resources.ray_cluster import WORKER_ENV

    models_dir = str(Path(os.environ.get("DREAM_HOME", ROOT / ".dream")) / "models")
    llm_settings = LlmProvider(models_dir=models_dir).settings_for(args.llm).model_copy(update={"max_tokens": 256})
    documents = parse_corpus(args.documents)
    settings = SyntheticSettings(questions_per_document=args.per_document)
    dedupe = make_embedding(EmbeddingProvider(models_dir=models_dir).settings_for(settings.dedupe_embedding_model))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
    try:

        def progress(done: int, total: int, kept: int, failed: int) -> None:
            print(f"  {done}/{total} documents, {kept} kept, {failed} failed", flush=True)

        def embed(texts: list[str]) -> np.ndarray:
            return np.asarray(dedupe.get_text_embedding_batch(texts))

        options = (llm_settings, None, 1, 2, progress, embed)
        if args.fixed:
            run = generate_synthetic_golden(documents, settings, *options)
        else:
            print(f"indexes of {len(configurations())} configurations, before generation (as dream run):", flush=True)
            retrievers = open_retrievers(documents, models_dir)
            rule = SizingRule(first_round_per_document=args.per_document, max_minutes=args.minutes)
            run = generate_in_rounds(documents, settings, rule, sized_decision(retrievers), *options)
            print(f"sized to the decision: {run.sizing_note}")
    finally:
        ray.shutdown()
    synthetic = run.golden.questions
    print(
        f"synthetic golden set: {len(documents)} documents, {args.per_document} per document"
        f"{'' if args.fixed else ' in the first round'}, {args.llm}, no cache"
    )
    print(f"  {run.seconds:.0f} s on 2 Ray workers; {len(synthetic)} questions, {len(run.failures)} rejected;"
          f" LLM calls {run.llm_calls}")  # fmt: skip
    print(f"  questions by kind: {synthetic['question_kind'].value_counts().to_dict()}")
    print(f"  rejected by reason: {run.golden.skipped}")
    for kind, rows in synthetic.groupby("question_kind"):
        for row in rows.head(2).itertuples():
            print(f"  [{kind}] Q: {row.user_input}\n      A: {row.reference}")

    squad = json.loads(package_data.DEMO_SQUAD.read_text())
    human = squad_golden_dataset(squad, documents, None, 0)
    split, _ = split_golden(human.questions, 0.3, 0, "question")
    held_out = set(human.questions.loc[split == HELD_OUT, "question_id"])
    selection = set(human.questions["question_id"]) - held_out
    pairs = zip(human.questions["user_input"], human.questions["reference_contexts"], strict=True)
    human_overlap = [lexical_overlap(question, " ".join(contexts)) for question, contexts in pairs]
    print("lexical overlap (content words of the question found in its reference contexts), mean:")
    print(f"  human (SQuAD, {len(human.questions)} questions): {np.nanmean(human_overlap):.3f}")
    for kind, values in synthetic.groupby("question_kind")["lexical_overlap"]:
        print(f"  synthetic {kind} ({len(values)}): {values.mean():.3f}")

    print(f"retrieval of {len(configurations())} configurations on both sets:", flush=True)
    if args.fixed:
        retrievers = open_retrievers(documents, models_dir)
    tables = score(retrievers, {"human": human, "synthetic": run.golden})
    human_rank, synthetic_rank = ranking(tables["human"]), ranking(tables["synthetic"])
    print(f"  {'configuration':44s} {'human MRR':>9s} {'synth MRR':>9s}")
    for key in human_rank.index:
        print(f"  {key:44s} {human_rank[key]:9.3f} {synthetic_rank[key]:9.3f}")
    tau, rho = agreement(human_rank, synthetic_rank)
    print(f"agreement, {len(human_rank)} configurations: Kendall tau {tau:.3f}, Spearman rho {rho:.3f}")
    for kind, rows in synthetic.groupby("question_kind"):
        if len(rows) >= 5:
            kind_tau, _ = agreement(human_rank, ranking(tables["synthetic"], set(rows["question_id"])))
            print(f"  synthetic {kind} alone ({len(rows)} questions): Kendall tau {kind_tau:.3f}")
    human_tier, synthetic_tier = tier_one(tables["human"]), tier_one(tables["synthetic"])
    both = human_tier & synthetic_tier
    print(f"tier 1: human {len(human_tier)}, synthetic {len(synthetic_tier)} of {len(human_rank)};"
          f" overlap {len(both)} (Jaccard {len(both) / len(human_tier | synthetic_tier):.2f})")  # fmt: skip
    synthetic_pick = synthetic_rank.index[0]
    print(f"  synthetic winner {synthetic_pick} in the human tier 1: {synthetic_pick in human_tier}")
    human_pick = ranking(tables["human"], selection).index[0]
    held_out_mrr = {}
    for label, key in (("human winner (selection split)", human_pick), ("synthetic pick", synthetic_pick)):
        table = tables["human"][key]
        values = table["mrr"].to_numpy()[table["question_id"].isin(held_out).to_numpy()]
        low, high = bootstrap_ci(values)
        held_out_mrr[label] = round(float(np.mean(values)), 3)
        print(f"  human held-out MRR of the {label} {key}: {np.mean(values):.3f} [{low:.3f}, {high:.3f}]")
    if args.write:
        from dream_assets.lib.golden.agreement import AGREEMENT_FILE, read_agreement

        record = {
            "configurations": len(human_rank),
            "documents": len(documents),
            "synthetic_questions": len(synthetic),
            "human_questions": len(human.questions),
            "kendall_tau": round(tau, 3),
            "spearman_rho": round(rho, 3),
            "tier_1_human": len(human_tier),
            "tier_1_synthetic": len(synthetic_tier),
            "tier_1_overlap": len(both),
            "synthetic_winner_in_human_tier_1": synthetic_pick in human_tier,
            "human_held_out_mrr_of_human_winner": held_out_mrr["human winner (selection split)"],
            "human_held_out_mrr_of_synthetic_pick": held_out_mrr["synthetic pick"],
            "sized_to_decision": not args.fixed,
            "rounds": len(run.rounds),
            "stopped_because": run.stopped_because,
            "date": time.strftime("%Y-%m-%d"),
            "source": "benchmarks/bench_synthetic.py on the bundled corpus",
        }
        AGREEMENT_FILE.write_text(json.dumps({**read_agreement(), args.llm: record}, indent=2) + "\n")
        print(f"written to {AGREEMENT_FILE}")


if __name__ == "__main__":
    main()
