"""One trial: one RAG configuration evaluated on the golden set, in two tiers, resumably.

Trials receive plain settings (`TrialSettings`: URIs, model names, paths), never a resource or a
live client, and connect to the object store inside the worker.

Tiers (`dream_assets.lib.evaluation.tiers`): every golden question is retrieved and scored in one
batch, from the question set's embeddings computed once per embedding model; the seeded
generation sample (`dream_assets.lib.golden.splits.generation_sample`) is answered by the LLM.

Resume: a trial's identity is its `fingerprint` (configuration, index version, golden set, LLM
identity, seed, sample size, repeats). Each answer is written to the object store
as it completes (`<table>.parts/<fingerprint>/<question id>.r<repeat>.parquet`); a finished trial
writes its table (stamped with the fingerprint) and then `<table>.done.json` with the fingerprint
and metrics. A trial run again is skipped when its `done.json` and its table hold its fingerprint;
otherwise it retrieves again (seconds)
and answers only the questions its parts lack.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dream_assets import layout
from dream_assets.lib.evaluation.answerer import Answerer
from dream_assets.lib.evaluation.trial_settings import TrialSettings, finished_metrics, stamp
from dream_assets.lib.golden.alignment import contexts_key


def run_trial(settings: TrialSettings, report: Callable[[dict], None] | None = None) -> dict[str, float]:
    """Evaluates one configuration and writes its per-question table to `output_key`, each
    answer to `parts_prefix` as it is given, and `done_key` at the end.

    Args:
        settings: the trial.
        report: called with the metrics after each rung and at the end (`tune.report`).

    Returns:
        The trial metrics (`dream_assets.lib.evaluation.summary.summarize`, plus `query_texts_embedded`:
        question texts this trial had to embed itself, 0 when the question set's embeddings
        were stored); with `resume`, those of the earlier run when this trial finished before.

    Raises:
        FileNotFoundError: if the index, the golden set or the reranker is missing from the
            object store.
        TimeBudgetSpent: when the trial runs past `time_budget_s` (its retrieval tier and its
            answers so far are kept).
    """
    from dream_assets.lib.evaluation.scoring import ragas_scores
    from dream_assets.lib.evaluation.summary import summarize
    from dream_assets.lib.evaluation.tiers import retrieve_questions
    from dream_assets.lib.golden.splits import generation_sample
    from dream_assets.lib.retrieval.query_embeddings import count_embedded_texts, read_query_embeddings
    from dream_assets.lib.stores.object_store import ObjectStoreClient
    from dream_assets.plugins.retrievers import RETRIEVERS

    started = time.monotonic()
    store = ObjectStoreClient(settings.object_store)
    if settings.resume and (finished := finished_metrics(store, settings)) is not None:
        if report is not None:
            report(finished)
        return finished
    retriever, embed_model = _open_retriever(store, settings)  # the model only once answers are scored
    questions = store.read_parquet(f"{settings.golden_prefix}/questions.parquet")
    questions = _with_reranker_split(store, settings.golden_prefix, questions)
    contexts = store.read_parquet(contexts_key(store, settings.golden_prefix, settings.config.parser))
    embeddings = None
    if RETRIEVERS.get(settings.config.retriever)().uses_embeddings:
        embeddings = read_query_embeddings(store, settings.golden_version, settings.index.embedding.name)
    with count_embedded_texts() as embedded:
        retrieved = retrieve_questions(questions, contexts, retriever, embeddings, settings.metrics)
    retrieved = retrieved.set_index("question_id", drop=False)
    answerer = Answerer(store, settings, retrieved, started)
    # the retrieval tier stands on its own: kept even if the generation tier then fails
    store.write_parquet(settings.retrieval_key, answerer.table([]))
    order = generation_sample(questions, settings.generation_sample_size, settings.seed)["question_id"].tolist()
    sizes = [size for size in settings.rungs if size < len(order)] + [len(order)]
    metrics: dict[str, float] = {}
    for size in sizes:
        answerer.answer(order[:size])
        scored = ragas_scores(answerer.table(order[:size]), embed_model, settings.seed)
        store.write_parquet(settings.output_key, stamp(scored, settings))  # a trial stopped at this rung keeps it
        metrics = {**summarize(scored), "query_texts_embedded": float(embedded())}
        if size < len(order) and report is not None:
            report(metrics)
    store.write_json(settings.done_key, {"fingerprint": settings.fingerprint(), "metrics": metrics})
    for prefix in (settings.parts_prefix, settings.retrieval_key):  # this and any stale fingerprint's
        store.delete(prefix.rsplit("/", 1)[0])
    if report is not None:
        report(metrics)
    return metrics


def _open_retriever(store, settings: TrialSettings):
    """The trial's retriever (a pool's, when one serves a plain vector retrieval of this index)
    and the embedding model ragas' similarity uses: the retriever's own, or a factory that loads
    it the first time an answer is scored, so a lexical trial whose tier has no answers (BM25,
    a retrieval-only refresh) never loads one."""
    from functools import cache

    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.retrieval.index_spec import load_retriever
    from dream_assets.lib.retrieval.pool import PoolRetriever, connect_pool
    from dream_assets.lib.retrieval.rerankers import open_reranker

    reranker = open_reranker(settings.config.reranker, store, settings.index.scratch_dir)
    # a pool answers plain vector retrievals; a reranking, BM25 or hybrid trial retrieves itself
    plain = reranker is None and settings.config.retriever == "vector"
    pool = connect_pool(settings.retrieval_pool) if settings.retrieval_pool and plain else None
    load_model = cache(lambda: make_embedding(settings.index.embedding))
    if pool is not None:  # the index is loaded once, in the pool's actors
        return PoolRetriever(pool, settings.config.top_k), load_model
    retriever = load_retriever(settings.index, settings.config.top_k, reranker, settings.config.retriever)
    # a lexical retriever loads no embedding model; ragas' answer similarity loads one if it scores
    return retriever, retriever.embed_model or load_model


def _with_reranker_split(store, golden_prefix: str, questions):
    """Adds `reranker_split` (train, validation, or unseen) to each question when reranker
    pairs were drawn from this golden set, so every trial also reports its metrics on the
    documents the reranker never saw (`validation/<metric>`)."""
    if not store.exists(layout.RERANKER_PAIRS_POINTER):
        return questions
    pointer = store.read_json(layout.RERANKER_PAIRS_POINTER)
    if golden_prefix != layout.golden_prefix(pointer.get("golden_version", "")):
        return questions
    pairs = store.read_parquet(layout.reranker_pairs_key(pointer["version"]))
    splits = dict(zip(pairs["document_id"], pairs["split"], strict=True))
    return questions.assign(reranker_split=questions["document_id"].map(splits).fillna("unseen"))
