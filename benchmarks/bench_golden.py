"""Synthetic golden set on the demo corpus: generation wall time with 1 and 2 Ray workers, rows,
failures by reason, five examples; then the leaderboard ranking (MRR, the leaderboard's default
sort, hit rate breaking ties) of every configuration of `config/search_space.yaml` scored on the
synthetic set against the same ranking on the human SQuAD set: Kendall's tau and Spearman's rho.

Retrieval only: the leaderboard ranks by MRR, which needs no LLM answer, so the ranking
comparison builds each embedding index once and runs no answering LLM.

Usage: python benchmarks/bench_golden.py [--documents N] [--rank-documents N] [--llm NAME] [--no-ranking]
       [--one-run]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

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


def generation(documents: dict, llm_settings, workers: int):
    """One uncached generation over Ray tasks of 3 documents with at most `workers` at once."""
    from dream_assets.lib.golden.synthetic import generate_synthetic_golden
    from dream_assets.lib.golden.synthetic_settings import SyntheticSettings

    return generate_synthetic_golden(documents, SyntheticSettings(), llm_settings, None, 3, workers)


def rankings(documents: dict, human, synthetic, models_dir: str):
    """MRR and hit rate of every configuration on both sets: {config key: (human, synthetic)}."""
    from dream_assets.lib.evaluation.formulas import hit_rate, reciprocal_rank
    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.retrieval.context_matching import covered_context_ids
    from dream_assets.lib.retrieval.indexes import build_index
    from dream_assets.lib.retrieval.retriever import Retriever
    from dream_assets.search_space import load_search_space
    from resources.embeddings import EmbeddingProvider

    provider = EmbeddingProvider(models_dir=models_dir)
    scores, built = {}, {}
    ordered = [documents[key] for key in sorted(documents)]
    for config in load_search_space().configs():
        embed_model = make_embedding(provider.settings_for(config.embedding_model))
        if config.index_key not in built:
            directory = tempfile.mkdtemp(prefix=f"bench-golden-{config.index_key}-")
            start = time.perf_counter()
            build_index(ordered, config.retrieval, embed_model, directory)
            print(f"  index {config.index_key}: {time.perf_counter() - start:.0f} s")
            built[config.index_key] = directory
        retriever = Retriever(built[config.index_key], config.retrieval, embed_model, config.top_k)
        pair = []
        for golden in (human, synthetic):
            mrr, hits = [], []
            for row in golden.questions.itertuples():
                covered = [covered_context_ids(item, golden.contexts) for item in retriever.retrieve(row.user_input)]
                mrr.append(reciprocal_rank(covered, row.reference_context_ids))
                hits.append(hit_rate(covered, row.reference_context_ids))
            pair.append((sum(mrr) / len(mrr), sum(hits) / len(hits)))
        scores[config.key] = pair
    return scores


def main() -> None:
    """Prints every figure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=16, help="PDFs the generation timing uses")
    parser.add_argument("--rank-documents", type=int, default=6, help="PDFs the ranking comparison uses")
    parser.add_argument("--llm", default="qwen2.5-coder-0.5b-instruct", help="generating LLM")
    parser.add_argument("--no-ranking", action="store_true", help="only time the generation")
    parser.add_argument("--one-run", action="store_true", help="one generation on 2 workers, not 1 then 2")
    args = parser.parse_args()

    import json

    import ray
    from scipy.stats import kendalltau, spearmanr

    from dream_assets.defs.golden.assets import DEMO_SQUAD
    from dream_assets.lib.golden.squad import squad_golden_dataset
    from resources.llm import LlmProvider
    from resources.ray_cluster import WORKER_ENV

    models_dir = str(Path(os.environ.get("DREAM_HOME", ROOT / ".dream")) / "models")
    llm_settings = LlmProvider(models_dir=models_dir).settings_for(args.llm).model_copy(update={"max_tokens": 256})
    documents = parse_corpus(args.documents)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
    try:
        runs = {workers: generation(documents, llm_settings, workers) for workers in ((2,) if args.one_run else (1, 2))}
    finally:
        ray.shutdown()
    print(f"synthetic golden set, {len(documents)} documents, 3 questions each, {args.llm}, no cache")
    for workers, run in runs.items():
        print(
            f"  {workers} Ray worker(s): {run.seconds:6.1f} s  questions {len(run.golden.questions)}"
            f"  failed {len(run.failures)}  LLM calls {run.llm_calls}"
        )
    run = runs[2]
    print(f"  failures by reason: {run.golden.skipped}")
    if 1 in runs:
        print(f"  speed-up 2 vs 1 workers: {runs[1].seconds / run.seconds:.2f}x")
        same = run.golden.questions["user_input"].tolist() == runs[1].golden.questions["user_input"].tolist()
        print(f"  same questions with 1 and 2 workers (seeded, greedy): {same}")
    for row in run.golden.questions.head(5).itertuples():
        print(f"  example [{row.document_id}] Q: {row.user_input}\n          A: {row.reference}")

    if args.no_ranking:
        return
    ranked_ids = sorted(documents)[: args.rank_documents]
    subset = {key: documents[key] for key in ranked_ids}
    human = squad_golden_dataset(json.loads(DEMO_SQUAD.read_text()), subset, 3, 0)
    synthetic_questions = run.golden.questions[run.golden.questions["document_id"].isin(ranked_ids)]
    synthetic = type(run.golden)(synthetic_questions, run.golden.contexts)
    counts = f"{len(human.questions)} human, {len(synthetic.questions)} synthetic questions"
    print(f"ranking on {len(subset)} documents: {counts}")
    scores = rankings(subset, human, synthetic, models_dir)
    print(f"  {'configuration':40s} {'human MRR':>9s} {'synth MRR':>9s} {'human hit':>9s} {'synth hit':>9s}")
    for key, ((h_mrr, h_hit), (s_mrr, s_hit)) in sorted(scores.items(), key=lambda item: -item[1][0][0]):
        print(f"  {key:40s} {h_mrr:9.3f} {s_mrr:9.3f} {h_hit:9.3f} {s_hit:9.3f}")
    keys = sorted(scores)
    human_mrr = [scores[k][0][0] for k in keys]
    synthetic_mrr = [scores[k][1][0] for k in keys]
    tau = kendalltau(human_mrr, synthetic_mrr)
    rho = spearmanr(human_mrr, synthetic_mrr)
    print(f"  Kendall tau {tau.statistic:.3f} (p {tau.pvalue:.3f})")
    print(f"  Spearman rho {rho.statistic:.3f} (p {rho.pvalue:.3f})")
    best_human = max(keys, key=lambda k: scores[k][0])
    best_synthetic = max(keys, key=lambda k: scores[k][1])
    print(f"  best on human: {best_human}; best on synthetic: {best_synthetic}")


if __name__ == "__main__":
    main()
