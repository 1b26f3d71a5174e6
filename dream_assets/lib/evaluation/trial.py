"""One trial: one RAG configuration evaluated on the golden set, in two tiers, resumably.

Trials receive plain settings (`TrialSettings`: URIs, model names, paths), never a resource or a
live client, and connect to the object store inside the worker.

Tiers (`dream_assets.lib.evaluation.tiers`): every golden question is retrieved and scored in one
batch, from the question set's embeddings computed once per embedding model; the seeded
generation sample (`dream_assets.lib.golden.splits.generation_sample`) is answered by the LLM.

Resume: a trial's identity is its `fingerprint` (configuration, index version, golden set, LLM
identity, seed, sample size, repeats). Each answer is written to the object store
as it completes (`<table>.parts/<fingerprint>/<question id>.r<repeat>.parquet`); a finished trial
writes its table and then `<table>.done.json` with the fingerprint and metrics. A trial run again
is skipped when its `done.json` holds its fingerprint; otherwise it retrieves again (seconds)
and answers only the questions its parts lack.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pandas as pd
from pydantic import BaseModel, Field

from dream_assets import layout
from dream_assets.hashing import content_hash
from dream_assets.lib.retrieval.index_spec import IndexSpec
from dream_assets.lib.stores.object_store import ObjectStoreSettings
from dream_assets.plugins.llm_providers import LlmSettings
from dream_assets.rag_config import RagConfig


class TrialSettings(BaseModel):
    """Everything one trial needs, as plain data.

    Attributes:
        config: the RAG configuration evaluated.
        object_store: how to open the object store.
        index: the configuration's embedding index (where it is, its embedding model, the
            node-local scratch directory it and the reranker are downloaded to).
        golden_prefix: object-store prefix of the golden set (`questions.parquet`,
            `contexts.parquet`).
        output_key: object-store key of the per-question table this trial writes.
        llm: the answering LLM.
        seed: seed of the generation sample and the rung order.
        generation_sample_size: questions answered by the LLM (0: all), drawn with `seed`, the
            same for every configuration; every question is retrieved and scored.
        llm_cache_dir: directory of the LLM answer cache ('' for none), shared by the trials on
            one node, each node keeping its own (`dream_assets.lib.node_local`).
        retrieval_pool: name of a running retrieval pool serving this index
            (`dream_assets.lib.retrieval.pool`); '' (or a pool that is gone) loads the index in
            the trial.
        resume: skip the trial if it finished before with the same fingerprint, and the
            answers an interrupted run of it gave (see the module docstring); False answers
            every question again (the LLM cache still answers repeated prompts).
        rungs: multi-fidelity evaluation: growing numbers of sampled questions answered (the
            last: the whole sample), prefixes of the sample's seeded order; metrics are
            reported after each rung (with `generated_questions`, the time attribute of
            `ASHAScheduler`), so a scheduler can stop a weak configuration early. Empty: the
            whole sample, one report.
        repeats: answers per question, the LLM sampling with seeds `llm.seed`, `llm.seed + 1`,
            ... (for an LLM run with temperature > 0); the table has one row per (question,
            `repeat`) for answered questions, and answer metrics report the spread between
            repeats (`<metric>_repeat_std`).
    """

    config: RagConfig
    object_store: ObjectStoreSettings
    index: IndexSpec
    golden_prefix: str
    output_key: str
    llm: LlmSettings
    seed: int = 0
    generation_sample_size: int = Field(0, ge=0)
    llm_cache_dir: str = ""
    retrieval_pool: str = ""
    resume: bool = True
    rungs: list[int] = []
    repeats: int = Field(1, ge=1)
    metrics: list[str] = []

    def fingerprint(self) -> str:
        """Hash of everything that changes this trial's results (not where it runs, how fast,
        or which pool serves it); a metric plug-in's name is in it, so a finished trial is
        scored again when one is installed."""
        from dream_assets.lib.evaluation.metric_catalog import plugin_metric_names

        plugins = plugin_metric_names(self.metrics)
        return content_hash(
            {
                **({"metric_plugins": plugins} if plugins else {}),
                "config": self.config.model_dump(mode="json"),
                # the index version is content-addressed: corpus, chunker and embedding model
                "index": [self.index.index_prefix, self.index.vector_table],
                "golden": self.golden_prefix,
                "llm": self.llm.identity(),
                "seed": self.seed,
                "generation_sample_size": self.generation_sample_size,
                "repeats": self.repeats,
            },
            length=16,
        )

    @property
    def golden_version(self) -> str:
        """The golden set's version (the last part of `golden_prefix`)."""
        return self.golden_prefix.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parts_prefix(self) -> str:
        """Object-store prefix of the answers given so far by this trial's fingerprint."""
        return f"{self.output_key.removesuffix('.parquet')}.parts/{self.fingerprint()}"

    @property
    def retrieval_key(self) -> str:
        """Object-store key of this fingerprint's retrieval tier (every question retrieved and
        scored, nothing answered), written before the generation tier starts: what the
        leaderboard keeps of a trial whose generation tier failed."""
        return f"{self.output_key.removesuffix('.parquet')}.retrieval/{self.fingerprint()}.parquet"

    @property
    def attempt_key(self) -> str:
        """Object-store key of where the trial's latest attempt runs
        (`dream_assets.lib.evaluation.worker_crash.TrialAttempt`)."""
        return f"{self.output_key.removesuffix('.parquet')}.attempt.json"

    @property
    def done_key(self) -> str:
        """Object-store key of the finished trial's record (fingerprint and metrics)."""
        return f"{self.output_key.removesuffix('.parquet')}.done.json"


def finished_metrics(store, settings: TrialSettings) -> dict[str, float] | None:
    """The metrics of an earlier run of this very trial (same fingerprint, table present), or
    None when it has to run."""
    if not (store.exists(settings.done_key) and store.exists(settings.output_key)):
        return None
    record = store.read_json(settings.done_key)
    return record["metrics"] if record.get("fingerprint") == settings.fingerprint() else None


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
    """
    from dream_assets.lib.evaluation.scoring import ragas_scores
    from dream_assets.lib.evaluation.summary import summarize
    from dream_assets.lib.evaluation.tiers import retrieve_questions
    from dream_assets.lib.golden.splits import generation_sample
    from dream_assets.lib.retrieval.query_embeddings import count_embedded_texts, read_query_embeddings
    from dream_assets.lib.stores.object_store import ObjectStoreClient
    from dream_assets.plugins.retrievers import RETRIEVERS

    store = ObjectStoreClient(settings.object_store)
    if settings.resume and (metrics := finished_metrics(store, settings)) is not None:
        if report is not None:
            report(metrics)
        return metrics
    retriever, embed_model = _open_retriever(store, settings)
    questions = store.read_parquet(f"{settings.golden_prefix}/questions.parquet")
    questions = _with_reranker_split(store, settings.golden_prefix, questions)
    contexts = store.read_parquet(f"{settings.golden_prefix}/contexts.parquet")
    embeddings = None
    if RETRIEVERS.get(settings.config.retriever)().uses_embeddings:
        embeddings = read_query_embeddings(store, settings.golden_version, settings.index.embedding.name)
    with count_embedded_texts() as embedded:
        retrieved = retrieve_questions(questions, contexts, retriever, embeddings, settings.metrics)
    retrieved = retrieved.set_index("question_id", drop=False)
    answerer = _Answerer(store, settings, retrieved)
    # the retrieval tier stands on its own: kept even if the generation tier then fails
    store.write_parquet(settings.retrieval_key, answerer.table([]))
    order = generation_sample(questions, settings.generation_sample_size, settings.seed)["question_id"].tolist()
    sizes = [size for size in settings.rungs if size < len(order)] + [len(order)]
    for size in sizes:
        answerer.answer(order[:size])
        scored = ragas_scores(answerer.table(order[:size]), embed_model, settings.seed)
        store.write_parquet(settings.output_key, scored)  # a trial stopped at this rung keeps it
        metrics = {**summarize(scored), "query_texts_embedded": float(embedded())}
        if size < len(order) and report is not None:
            report(metrics)
    store.write_json(settings.done_key, {"fingerprint": settings.fingerprint(), "metrics": metrics})
    for prefix in (settings.parts_prefix, settings.retrieval_key):  # this and any stale fingerprint's
        store.delete(prefix.rsplit("/", 1)[0])
    if report is not None:
        report(metrics)
    return metrics


class _Answerer:
    """The generation tier of one trial: answers (question, repeat) pairs not answered yet, each
    made durable as it completes, and assembles the per-question table."""

    def __init__(self, store, settings: TrialSettings, retrieved: pd.DataFrame) -> None:
        from dream_assets.lib.llm.rate_limit import rate_limiter_for

        self.store, self.settings, self.retrieved = store, settings, retrieved
        llm = settings.llm
        self.repeats = [llm.model_copy(update={"seed": llm.seed + r}) for r in range(settings.repeats)]
        self.llms: dict[int, object] = {}
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
        self.answers[(row["question_id"], row["repeat"])] = row
        name = f"{row['question_id']}.r{row['repeat']}.parquet"
        self.store.write_parquet(f"{self.settings.parts_prefix}/{name}", pd.DataFrame([row]))

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


def _open_retriever(store, settings: TrialSettings):
    """The trial's retriever (a pool's, when one serves a plain vector retrieval of this index)
    and the embedding model ragas' similarity uses."""
    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.retrieval.index_spec import load_retriever
    from dream_assets.lib.retrieval.pool import PoolRetriever, connect_pool
    from dream_assets.lib.retrieval.rerankers import open_reranker

    reranker = open_reranker(settings.config.reranker, store, settings.index.scratch_dir)
    # a pool answers plain vector retrievals; a reranking, BM25 or hybrid trial retrieves itself
    plain = reranker is None and settings.config.retriever == "vector"
    pool = connect_pool(settings.retrieval_pool) if settings.retrieval_pool and plain else None
    if pool is not None:  # the index is loaded once, in the pool's actors
        return PoolRetriever(pool, settings.config.top_k), make_embedding(settings.index.embedding)
    retriever = load_retriever(settings.index, settings.config.top_k, reranker, settings.config.retriever)
    return retriever, retriever.embed_model


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


@contextlib.contextmanager
def _llm_cache(directory: str):
    """A process-safe on-disk cache (diskcache, SQLite) at `directory` on this node's disk
    (`dream_assets.lib.node_local`), or None when empty."""
    if not directory:
        yield None
        return
    import diskcache

    from dream_assets.lib.node_local import node_local

    with diskcache.Cache(str(node_local(directory)), size_limit=2**32) as cache:
        yield cache
