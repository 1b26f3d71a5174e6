"""The sweep: one Ray Tune trial per RAG configuration, each evaluating it on the golden set.

Trials receive plain settings (`TrialSettings`: URIs, model names, paths), never a resource or a
live client, and connect to the object store inside the worker. The settings (which hold
credentials) travel through Ray's object store (`tune.with_parameters`); Tune's search space, which
Tune writes to its results directory (`params.json`, experiment state), holds only each
configuration's key and parameters. A trial writes its per-question table to the object store and
reports the aggregate metrics; a trial that raises is returned with its error and the others go on.

Resume: a trial's identity is its `fingerprint` (configuration, index version, golden set, LLM
identity, judge settings, seed). Each answered question is written to the object store as it
completes (`<table>.parts/<fingerprint>/<question id>.parquet`); a finished trial writes its
table and then `<table>.done.json` with the fingerprint and metrics. A sweep run again (after a
crash, a kill -9, a pod eviction) skips every trial whose `done.json` holds its fingerprint and,
in the others, every question already in the parts; Ray Tune's own `Tuner.restore` picks up the
sweep's experiment when its state survived, so trials it finished are not scheduled again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import ray
from pydantic import BaseModel, Field
from ray import tune

from dream_assets import layout
from dream_assets.lib.hashing import content_hash
from dream_assets.lib.rate_limit import start_rate_limiters
from dream_assets.lib.retrieval_pool import IndexSpec
from dream_assets.rag_config import RagConfig, RangeSpace
from resources.embeddings import EmbeddingSettings
from resources.llm import LlmSettings
from resources.object_store import ObjectStoreSettings

logger = logging.getLogger(__name__)


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
        judge_llm: the LLM judging ragas' LLM metrics, or None to skip them.
        judge_sample_size: questions scored by the judge.
        seed: seed of the judge sample.
        llm_cache_dir: directory of the LLM answer cache ('' for none), shared by the trials on
            one node.
        retrieval_pool: name of a running retrieval pool serving this index
            (`dream_assets.lib.retrieval_pool`); '' (or a pool that is gone) loads the index in
            the trial.
        resume: skip the trial if it finished before with the same fingerprint, and the
            questions an interrupted run of it answered (see the module docstring); False
            evaluates every question again (the LLM cache still answers repeated prompts).
        rungs: multi-fidelity evaluation: growing numbers of questions (the last: all), taken
            in one seeded order shared by every trial; metrics are reported after each rung
            (with `questions`, Tune's time attribute for `ASHAScheduler`), so a scheduler can
            stop a weak configuration early. Empty: all questions, one report.
        repeats: answers per question, the LLM sampling with seeds `llm.seed`, `llm.seed + 1`,
            ... (for an LLM run with temperature > 0; greedy decoding repeats itself); the table
            has one row per (question, `repeat`), metrics average over all of them and report
            the spread between repeats (`<metric>_repeat_std`).
    """

    config: RagConfig
    object_store: ObjectStoreSettings
    index: IndexSpec
    golden_prefix: str
    output_key: str
    llm: LlmSettings
    judge_llm: LlmSettings | None = None
    judge_sample_size: int = 0
    seed: int = 0
    llm_cache_dir: str = ""
    retrieval_pool: str = ""
    resume: bool = True
    rungs: list[int] = []
    repeats: int = Field(1, ge=1)

    def fingerprint(self) -> str:
        """Hash of everything that changes this trial's results (not where it runs, how fast,
        or which pool serves it)."""
        return content_hash(
            {
                "config": self.config.model_dump(mode="json"),
                # the index version is content-addressed: corpus, chunker and embedding model
                "index": [self.index.index_prefix, self.index.vector_table],
                "golden": self.golden_prefix,
                "llm": self.llm.identity(),
                "judge": [self.judge_llm.identity() if self.judge_llm else None, self.judge_sample_size, self.seed],
                "repeats": self.repeats,
            },
            length=16,
        )

    @property
    def parts_prefix(self) -> str:
        """Object-store prefix of the questions answered so far by this trial's fingerprint."""
        return f"{self.output_key.removesuffix('.parquet')}.parts/{self.fingerprint()}"

    @property
    def done_key(self) -> str:
        """Object-store key of the finished trial's record (fingerprint and metrics)."""
        return f"{self.output_key.removesuffix('.parquet')}.done.json"


@dataclass
class TrialOutcome:
    """What a trial returned: its metrics, or the error that stopped it; `skipped` when it had
    finished with the same fingerprint before and was not run again; `params` of a drawn
    configuration (`RagConfig.params`, range search only)."""

    config_key: str
    metrics: dict[str, float]
    error: str | None = None
    skipped: bool = False
    params: dict[str, str | int] = field(default_factory=dict)


def finished_metrics(store, settings: TrialSettings) -> dict[str, float] | None:
    """The metrics of an earlier run of this very trial (same fingerprint, table present), or
    None when it has to run."""
    if not (store.exists(settings.done_key) and store.exists(settings.output_key)):
        return None
    record = store.read_json(settings.done_key)
    return record["metrics"] if record.get("fingerprint") == settings.fingerprint() else None


def run_trial(settings: TrialSettings, report: Callable[[dict], None] | None = None) -> dict[str, float]:
    """Evaluates one configuration and writes its per-question table to `output_key`, each
    question to `parts_prefix` as it is answered, and `done_key` at the end.

    Args:
        settings: the trial.
        report: called with the metrics after each rung and at the end (`tune.report`).

    Returns:
        The trial metrics from `dream_assets.lib.evaluation.summarize` (with `resume`, those of
        the earlier run when this trial finished before).

    Raises:
        FileNotFoundError: if the index or the golden set is missing from the object store.
    """
    from dream_assets.lib.evaluation import answer_questions, ragas_scores, summarize
    from dream_assets.lib.generation import answer_stop
    from dream_assets.lib.rate_limit import rate_limiter_for
    from dream_assets.lib.retrieval_pool import PoolRetriever, connect_pool, download_once, load_retriever
    from resources.embeddings import make_embedding
    from resources.llm import make_llm
    from resources.object_store import ObjectStoreClient

    store = ObjectStoreClient(settings.object_store)
    if settings.resume and (metrics := finished_metrics(store, settings)) is not None:
        if report is not None:
            report(metrics)
        return metrics
    reranker = None
    if settings.config.reranker == "finetuned":
        if not store.exists(layout.RERANKER_POINTER):
            raise FileNotFoundError("no fine-tuned reranker in the object store: materialise reranker_job first")
        prefix = store.read_json(layout.RERANKER_POINTER)["prefix"]
        reranker = str(download_once(store, prefix, settings.index.scratch_dir, "config.json"))
    # a pool answers plain vector retrievals; a reranking, BM25 or hybrid trial retrieves itself
    plain = reranker is None and settings.config.retriever == "vector"
    pool = connect_pool(settings.retrieval_pool) if settings.retrieval_pool and plain else None
    if pool is not None:  # the index is loaded once, in the pool's actors
        retriever = PoolRetriever(pool, settings.config.top_k)
        embed_model = make_embedding(settings.index.embedding)  # for ragas' embedding metrics
    else:
        retriever = load_retriever(settings.index, settings.config.top_k, reranker, settings.config.retriever)
        embed_model = retriever.embed_model
    questions = store.read_parquet(f"{settings.golden_prefix}/questions.parquet")
    questions = _with_reranker_split(store, settings.golden_prefix, questions)
    contexts = store.read_parquet(f"{settings.golden_prefix}/contexts.parquet")
    # one LLM per repeat, sampling with seeds seed, seed + 1, ... (one repeat by default)
    repeats = [settings.llm.model_copy(update={"seed": settings.llm.seed + r}) for r in range(settings.repeats)]
    llms: dict[int, object] = {}
    reserve = rate_limiter_for(settings.llm.name, settings.llm.requests_per_minute, settings.llm.tokens_per_minute)
    if not settings.resume:
        store.delete(settings.parts_prefix)
    # every answer of this fingerprint so far, by (question, repeat): read once, then kept here
    answers = {(row["question_id"], row["repeat"]): row for row in _answered_parts(store, settings, questions)}
    resumed_ids = set(answers)  # answered by an earlier, interrupted run
    judge = make_llm(settings.judge_llm) if settings.judge_llm and settings.judge_sample_size > 0 else None

    def keep(row: dict) -> None:  # each answered question is durable as soon as it completes
        answers[(row["question_id"], row["repeat"])] = row
        name = f"{row['question_id']}.r{row['repeat']}.parquet"
        store.write_parquet(f"{settings.parts_prefix}/{name}", pd.DataFrame([row]))

    def answer(subset: pd.DataFrame, repeat: int) -> None:
        todo = subset[[(question_id, repeat) not in answers for question_id in subset["question_id"]]]
        if not len(todo):
            return
        if repeat not in llms:
            llms[repeat] = make_llm(repeats[repeat], stop=answer_stop(repeats[repeat]))
        with _llm_cache(settings.llm_cache_dir) as cache:
            answer_questions(
                todo.assign(repeat=repeat), contexts, retriever, llms[repeat], repeats[repeat], keep, cache, reserve
            )

    if settings.rungs:  # one seeded order for every trial, so rungs compare the same questions
        questions = questions.sample(frac=1.0, random_state=settings.seed, ignore_index=True)
    sizes = [size for size in settings.rungs if size < len(questions)] + [len(questions)]
    for size in sizes:
        subset = questions.iloc[:size]
        for repeat in range(settings.repeats):
            answer(subset, repeat)
        keys = [(question_id, repeat) for question_id in subset["question_id"] for repeat in range(settings.repeats)]
        answered = pd.DataFrame([answers[key] for key in keys]).assign(resumed=[key in resumed_ids for key in keys])
        scored = ragas_scores(answered, embed_model, judge, settings.judge_sample_size, settings.seed)
        store.write_parquet(settings.output_key, scored)  # a trial stopped at this rung keeps it
        metrics = summarize(scored)
        if size < len(questions) and report is not None:
            report(metrics)
    store.write_json(settings.done_key, {"fingerprint": settings.fingerprint(), "metrics": metrics})
    store.delete(settings.parts_prefix.rsplit("/", 1)[0])  # this and any stale fingerprint's parts
    if report is not None:
        report(metrics)
    return metrics


def _answered_parts(store, settings: TrialSettings, questions: pd.DataFrame) -> list[dict]:
    """Rows this trial's fingerprint has written so far among `questions`, one per (question,
    repeat)."""
    parts = [store.read_parquet(info.key) for info in store.list(settings.parts_prefix)]
    if not parts:
        return []
    earlier = pd.concat(parts, ignore_index=True)
    earlier = earlier[earlier["question_id"].isin(questions["question_id"])]
    return earlier.drop_duplicates(["question_id", "repeat"]).to_dict("records")


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


class _Progress(tune.Callback):
    """Reports each trial that ends (finished or failed) to `report(key, done, total)`."""

    def __init__(self, report: Callable[[str, int, int], None] | None, total: int) -> None:
        self.report, self.total, self.done = report, total, 0

    def __getstate__(self) -> dict:
        # Tune pickles its run config into the experiment state; the reporter (a Dagster log
        # method) stays with the live driver.
        return {**self.__dict__, "report": None}

    def _ended(self, trial) -> None:
        self.done += 1
        if self.report is not None:
            self.report(trial.config["trial"]["config_key"], self.done, self.total)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:  # noqa: D102
        self._ended(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:  # noqa: D102
        self._ended(trial)


@contextlib.contextmanager
def _llm_cache(directory: str):
    """A process-safe on-disk cache (diskcache, SQLite) at `directory`, or None when empty."""
    if not directory:
        yield None
        return
    import diskcache

    with diskcache.Cache(directory, size_limit=2**32) as cache:
        yield cache


def _trainable(config: dict[str, Any], settings: dict[str, TrialSettings]) -> None:
    run_trial(settings[config["trial"]["config_key"]], report=tune.report)


def run_sweep(
    trials: list[TrialSettings],
    storage_path: str,
    experiment_name: str,
    max_concurrent_trials: int,
    cpus_per_trial: float = 1.0,
    on_trial_done: Callable[[str, int, int], None] | None = None,
    scheduler=None,
) -> list[TrialOutcome]:
    """Runs every trial as a Ray Tune trial (grid search over the given configurations), with
    one shared client-side rate limiter per LLM that has limits.

    Trials with `resume` that finished before with the same fingerprint are not run (their
    outcome is `skipped`, with the earlier metrics). When the Tune experiment of this very set
    of trials (`<experiment_name>-<hash of their fingerprints>`) was interrupted and its state
    survived, it is restored (`Tuner.restore`, unfinished and errored trials run again), else a
    new one runs the remaining trials. Ray must already be initialised (see
    `resources.ray_cluster.RayCluster.connect`).

    Args:
        trials: one per configuration.
        storage_path: Ray Tune's results directory (local path or URI).
        experiment_name: Tune experiment name prefix (a directory under `storage_path`).
        max_concurrent_trials: trials running at once.
        cpus_per_trial: CPUs reserved by each trial.
        on_trial_done: called with (configuration key, trials done, total) as each trial ends
            (not for a restored experiment: Tune restores its own callbacks).
        scheduler: a Ray Tune trial scheduler (`multi_fidelity_scheduler`), with trials that
            have `rungs`; None runs every trial to the end.

    Returns:
        One outcome per trial, in the order given; failed trials carry their error.
    """
    from resources.object_store import ObjectStoreClient

    if not trials:
        return []
    by_key = {trial.config.key: trial for trial in trials}
    outcomes: dict[str, TrialOutcome] = {}
    for key, trial in by_key.items():
        if trial.resume and (metrics := finished_metrics(ObjectStoreClient(trial.object_store), trial)) is not None:
            outcomes[key] = TrialOutcome(key, metrics, skipped=True)
    pending = {key: trial for key, trial in by_key.items() if key not in outcomes}
    if not pending:
        return [outcomes[key] for key in by_key]
    name = f"{experiment_name}-{content_hash(sorted(trial.fingerprint() for trial in trials))}"
    trainable = tune.with_resources(tune.with_parameters(_trainable, settings=by_key), {"cpu": cpus_per_trial})
    path = f"{storage_path.rstrip('/')}/{name}"
    resume = all(trial.resume for trial in trials)
    if resume and tune.Tuner.can_restore(path):
        logger.info("restoring the interrupted Tune experiment %s", path)
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={
                "trial": tune.grid_search(
                    [{"config_key": key, **trial.config.params()} for key, trial in pending.items()]
                )
            },
            tune_config=tune.TuneConfig(
                scheduler=scheduler,
                max_concurrent_trials=max_concurrent_trials,
                trial_name_creator=lambda trial: trial.config["trial"]["config_key"],
                trial_dirname_creator=lambda trial: trial.config["trial"]["config_key"],
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage_path,
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                callbacks=[_Progress(on_trial_done, len(pending))] if on_trial_done else None,
            ),
        )
    for result in _fit_with_rate_limits(tuner, [trial.llm for trial in trials]):
        key = result.config["trial"]["config_key"] if result.config else "unknown"
        if key in pending:
            outcomes[key] = _outcome(key, result)
    return [outcomes.get(key) or TrialOutcome(key, {}, "trial produced no result") for key in by_key]


def _fit_with_rate_limits(tuner: tune.Tuner, llms: list[LlmSettings]):
    """Runs `tuner` with one client-side rate limiter per LLM that has limits, shared by every
    trial (`dream_assets.lib.rate_limit`), and stops the limiters after; returns the results."""
    limiters = start_rate_limiters({llm.name: (llm.requests_per_minute, llm.tokens_per_minute) for llm in llms})
    try:
        return tuner.fit()
    finally:
        for limiter in limiters:
            ray.kill(limiter)


def _outcome(key: str, result, params: dict | None = None) -> TrialOutcome:
    """The outcome of one Tune result: its error, or its numeric metrics."""
    if result.error is not None:
        return TrialOutcome(key, {}, f"{type(result.error).__name__}: {result.error}", params=params or {})
    metrics = {name: float(value) for name, value in result.metrics.items() if _is_metric(name, value)}
    return TrialOutcome(key, metrics, params=params or {})


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
    """Ray Tune's `ASHAScheduler` over questions evaluated: at each rung of `rungs` (from
    `question_rungs`), a trial goes on only if its `metric` (maximised) is in the top
    1/`reduction_factor` of the trials that reached that rung so far; the others stop there,
    with their metrics on the questions they answered. None when `rungs` is empty (every trial
    runs to the end)."""
    from ray.tune.schedulers import ASHAScheduler

    if not rungs:
        return None
    return ASHAScheduler(
        time_attr="questions",
        metric=metric,
        mode="max",
        max_t=rungs[-1],
        grace_period=rungs[0],
        reduction_factor=reduction_factor,
    )


class RangeSearchContext(BaseModel):
    """What every trial of an Optuna range search shares, as plain data.

    Attributes:
        space: the ranges (`RangeSpace`).
        object_store: how to open the object store.
        documents: ids of the parsed documents (the corpus indexes are built from).
        embeddings: settings of each embedding model of the space, by name.
        llms: settings of each LLM of the space, by name.
        golden_prefix: object-store prefix of the golden set.
        output_prefix: object-store prefix of the per-question tables (`<prefix>/<key>.parquet`).
        scratch_dir: node-local directory for downloaded indexes.
        llm_cache_dir: directory of the LLM answer cache ('' for none).
        rungs: multi-fidelity rungs (`question_rungs`), or empty.
        seed: seed of Optuna's sampler and of the question order.
    """

    space: RangeSpace
    object_store: ObjectStoreSettings
    documents: list[str]
    embeddings: dict[str, EmbeddingSettings]
    llms: dict[str, LlmSettings]
    golden_prefix: str
    output_prefix: str
    scratch_dir: str = ""
    llm_cache_dir: str = ""
    rungs: list[int] = []
    seed: int = 0


def _range_trainable(params: dict[str, Any], context: RangeSearchContext) -> None:
    from dream_assets.lib.indexes import ensure_index
    from dream_assets.lib.parsing import ParsedDocument
    from resources.object_store import ObjectStoreClient

    config = RangeSpace.config_from(params)
    store = ObjectStoreClient(context.object_store)
    documents = [ParsedDocument.from_dict(store.read_json(layout.parsed_document_key(d))) for d in context.documents]
    embedding = context.embeddings[config.embedding_model]
    pointer = ensure_index(store, documents, config.index_key, config.retrieval, embedding)
    index = IndexSpec(
        method=config.retrieval,
        embedding=embedding,
        object_store=context.object_store,
        index_prefix=pointer["prefix"],
        scratch_dir=context.scratch_dir,
    )
    settings = TrialSettings(
        config=config,
        object_store=context.object_store,
        index=index,
        golden_prefix=context.golden_prefix,
        output_key=f"{context.output_prefix}/{config.key}.parquet",
        llm=context.llms[config.llm],
        seed=context.seed,
        llm_cache_dir=context.llm_cache_dir,
        rungs=context.rungs,
    )
    extra = {"config_key": config.key, "index_built": float(pointer["built"]), "embedded": float(pointer["embedded"])}
    run_trial(settings, report=lambda metrics: tune.report({**metrics, **extra}))


def run_range_search(
    context: RangeSearchContext,
    storage_path: str,
    experiment_name: str,
    max_concurrent_trials: int,
    metric: str = "mrr",
    scheduler=None,
) -> list[TrialOutcome]:
    """Samples `context.space.samples` configurations with Optuna's TPE sampler (Ray Tune's
    `OptunaSearch`, define-by-run over `RangeSpace.suggest`, seeded) and evaluates each like a
    sweep trial; a drawn chunker or window without an index gets one built in the trial
    (content-addressed: the same draw twice, or the grid's, is built once). Ray must be
    initialised.

    Args:
        context: the search.
        storage_path: Ray Tune's results directory.
        experiment_name: Tune experiment name.
        max_concurrent_trials: trials at once (Optuna learns from finished ones, so fewer
            concurrent trials sample better).
        metric: maximised by the sampler (and the scheduler).
        scheduler: a trial scheduler (`multi_fidelity_scheduler`) when `context.rungs` is set.

    Returns:
        One outcome per sampled trial, in the order Tune returns them; its metrics include
        `index_built` (1 when the trial built its index) and `embedded` (nodes it embedded).
    """
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(space=context.space.suggest, metric=metric, mode="max", seed=context.seed)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_range_trainable, context=context), {"cpu": 1}),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=context.space.samples,
            max_concurrent_trials=max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            name=experiment_name,
            storage_path=storage_path,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
        ),
    )
    outcomes = []
    for result in _fit_with_rate_limits(tuner, list(context.llms.values())):
        config = RangeSpace.config_from(result.config)
        outcomes.append(_outcome(config.key, result, config.params()))
    return outcomes


_TUNE_BOOKKEEPING = {
    "timestamp",
    "time_this_iter_s",
    "time_total_s",
    "training_iteration",
    "pid",
    "time_since_restore",
    "iterations_since_restore",
}


def _is_metric(name: str, value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and name not in _TUNE_BOOKKEEPING
