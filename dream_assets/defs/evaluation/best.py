"""The winner of the leaderboard, deployable: its configuration file and its MLflow model."""

import math
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.evaluation.leaderboard import experiment_leaderboard
from dream_assets.defs.evaluation.mlflow_runs import sweep_run, trial_tags
from dream_assets.defs.readers import read_current_golden, read_parsed_documents
from dream_assets.defs.refresh.plan import TAG_REFRESH_RUN
from dream_assets.defs.workers import WorkerSettings
from dream_assets.hashing import content_hash, module_file
from dream_assets.lib.evaluation.metric_catalog import metric_names
from dream_assets.lib.retrieval.indexes import corpus_version
from dream_assets.plugins.rerankers import RERANKERS
from dream_assets.search_space import SearchSpace
from dream_assets.serving import (
    CONFIGURATION_ARTIFACT,
    BestConfiguration,
    model_file_hashes,
    model_signature,
    registered_model_name,
)
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.tracking import MlflowTracker
from resources.vector_stores import VectorStore

TAG_CONFIGURATION = "dream.configuration_hash"
CHAMPION = "champion"
"""The registry alias of a corpus' current winner, which `dream serve` and the deployment's
`rag-server` follow (`models:/dream-<corpus>@champion`)."""


@dg.asset(deps=[experiment_leaderboard], group_name="evaluation", kinds={"mlflow", "yaml"})
def best_rag_configuration(
    context: dg.AssetExecutionContext,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    llms: LlmProvider,
    ray_cluster: RayCluster,
    tracker: MlflowTracker,
    vector_store: VectorStore,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """The leaderboard's first configuration that did not fail, ready to serve:
    `best_rag_configuration/<golden version>/best_rag_configuration.yaml`
    (`dream_assets.serving.BestConfiguration`: search-space entry, index version, models and
    the SHA-256 of their files, corpus and golden-set versions, metrics with intervals), and the
    same as an MLflow `pyfunc` model (`dream_assets.serving.RagModel`) logged on the winner's
    trial run and registered as a new version of `dream-<corpus>` when that file changed (its
    configuration, index, corpus or golden version), tagged with the corpus, golden and index
    versions and the runs that made it (`dream.leaderboard_run`, `dream.refresh_run`); the alias
    `champion` is moved to it, and `dream serve` serves (and follows) that alias.

    Raises:
        ValueError: if every configuration of the leaderboard failed.
    """
    store = object_store.client()
    corpus = corpus_of(context)
    workers = WorkerSettings(object_store, embeddings, llms, vector_store, ray_cluster, search_space, corpus)
    golden_version, _, _ = read_current_golden(store, corpus)
    winner = _winner(store, golden_version)
    rag = search_space.configs_by_key[winner["config_key"]]
    pointer = workers.index_pointer(rag.index_key)
    documents = list(read_parsed_documents(context.instance, store, corpus).values())
    best = _best(workers, rag, pointer, winner, golden_version, corpus_version(documents))
    text = best.to_yaml()
    key = f"{layout.best_configuration_prefix(golden_version)}/best_rag_configuration.yaml"
    store.write_bytes(key, text.encode("utf-8"))
    run_id, model_version = _log_model(tracker, rag.key, golden_version, corpus, text)
    name = registered_model_name(corpus)
    lineage = {
        "dream.corpus_version": best.corpus_version,
        "dream.golden_version": golden_version,
        "dream.index_version": pointer["version"],
        "dream.leaderboard_run": context.run_id,
        "dream.refresh_run": context.run.tags.get(TAG_REFRESH_RUN, ""),
    }
    for tag, value in lineage.items():
        tracker.tag_model_version(name, model_version, tag, value)
    tracker.set_alias(name, CHAMPION, model_version)
    model_uri = f"models:/{name}/{model_version}"
    context.log.info("best configuration %s: %s", rag.key, model_uri)
    return dg.MaterializeResult(
        metadata={
            "corpus": corpus or "(every document partition)",
            "config_key": rag.key,
            "uri": dg.MetadataValue.path(store.uri(key)),
            "model_uri": model_uri,
            "model_version": model_version,
            "served_as": f"models:/{name}@{CHAMPION}",
            "corpus_version": best.corpus_version,
            "index_version": pointer["version"],
            "mlflow_run": dg.MetadataValue.url(tracker.run_url(run_id)),
            "configuration": dg.MetadataValue.md(f"```yaml\n{text}```"),
        },
        data_version=dg.DataVersion(f"{golden_version}-{rag.key}-{pointer['version']}"),
    )


def _best(workers: WorkerSettings, rag, pointer: dict, winner, golden_version: str, corpus_hash: str):
    """The winner's `BestConfiguration`: its entry, index, LLM and reranker, the hashes of its
    model files, its metrics."""
    spec, llm = workers.index(rag.index_key, pointer), workers.llm(rag.llm)
    return BestConfiguration(
        corpus=workers.corpus,
        corpus_version=corpus_hash,
        golden_version=golden_version,
        config_key=rag.key,
        config=rag,
        index=spec,
        llm=llm,
        reranker=RERANKERS.get(rag.reranker)().source(workers.object_store.client()),
        model_files=model_file_hashes([spec.embedding.model, llm.model]),
        metrics=_metrics(winner),
        llm_cache_dir=workers.llm_cache_dir,
    )


def _winner(store, golden_version: str) -> pd.Series:
    """The leaderboard's first row that did not fail.

    Raises:
        ValueError: if every configuration failed.
    """
    table = store.read_parquet(f"{layout.leaderboard_prefix(golden_version)}/leaderboard.parquet")
    usable = table[table["status"].isin(["ok", "stopped_early"])] if "status" in table else table
    if usable.empty:
        raise ValueError(f"every configuration on golden set {golden_version} failed: nothing to deploy")
    return usable.iloc[0]


def _log_model(tracker: MlflowTracker, config_key: str, golden_version: str, corpus: str, text: str):
    """The winner's configuration file as a registered model version on its trial run (logged
    once per distinct file); returns (the run id, the model version). The sweep's parent run
    is found and set running until the model is in."""
    parent = sweep_run(tracker, golden_version, corpus)
    run_id = tracker.find_or_create_run(config_key, trial_tags(config_key, golden_version, corpus), parent)
    name, digest = registered_model_name(corpus), content_hash(text)
    model_version = tracker.find_model_version(name, TAG_CONFIGURATION, digest)
    if model_version is None:  # registered once per distinct configuration file
        model_version = _register(tracker, run_id, text, name, digest)
    tracker.finish(run_id)
    tracker.finish(parent)
    return run_id, model_version


def _register(tracker: MlflowTracker, run_id: str, configuration: str, name: str, digest: str) -> str:
    """Logs the winner (its configuration file's text) as a pyfunc model on its trial run and
    registers it; returns the version."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "best_rag_configuration.yaml"
        path.write_text(configuration, encoding="utf-8")
        version = tracker.log_pyfunc_model(
            run_id,
            module_file("dream_assets.serving_entry"),
            {CONFIGURATION_ARTIFACT: str(path)},
            name,
            model_signature(),
        )
    tracker.tag_model_version(name, version, TAG_CONFIGURATION, digest)
    return version


def _metrics(winner) -> dict[str, float | int | str]:
    """The winner's metric columns (each metric, its n, interval and p-value, on both splits)
    and its tier, finite values only."""
    kept: dict[str, float | int | str] = {}
    for column, value in winner.items():
        name = str(column).rsplit("/", 1)[-1]
        if column != "tier" and not any(name.startswith(metric) for metric in metric_names()):
            continue
        if isinstance(value, int | float) and math.isfinite(value):
            kept[str(column)] = int(value) if str(column).endswith("_n") or column == "tier" else float(value)
    return kept
