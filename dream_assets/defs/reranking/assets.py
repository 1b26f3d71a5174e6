"""A reranker fine-tuned on the golden set: training pairs with hard negatives, then a
cross-encoder trained in a Ray task sized by `dream_assets.lib.models.capacity`, tracked in MLflow and
stored in the object store; the sweep's `finetuned` reranker choice reads it."""

import tempfile
from pathlib import Path

import dagster as dg
from pydantic import Field

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.golden.assets import golden_dataset
from dream_assets.defs.readers import read_current_golden
from dream_assets.defs.workers import WorkerSettings
from dream_assets.hashing import content_hash, module_file
from dream_assets.lib.models.bundled import BUNDLED_MODELS, bundled_model_path
from dream_assets.lib.models.capacity import estimate_memory, lora_parameter_count, ray_resources
from dream_assets.lib.retrieval.index_spec import load_retriever
from dream_assets.lib.retrieval.reranker_training import fine_tune, training_pairs
from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings
from dream_assets.lib.tracking.mlflow_client import TAG_KIND
from dream_assets.search_space import SearchSpace
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.tracking import MlflowTracker
from resources.vector_stores import VectorStore

# The registered MLflow model of the fine-tuned reranker, and the tag naming its version.
RERANKER_MODEL_NAME = "dream-reranker"
TAG_RERANKER_VERSION = "dream.reranker_version"


class TrainingPairsConfig(dg.Config):
    """Which (question, context) pairs the reranker learns from."""

    index_key: str = Field(
        default="chunks256o32_minilm-l6", description="The embedding index whose retrievals give the hard negatives."
    )
    candidates: int = Field(default=8, description="Contexts retrieved per question.")
    negatives: int = Field(default=3, description="Hard negatives kept per question.")
    validation_fraction: float = Field(default=0.25, description="Share of documents held out for validation.")
    seed: int = Field(default=0, description="Seed of the document split.")


@dg.asset(deps=[golden_dataset, "embedding_index"], group_name="reranking", kinds={"parquet"})
def reranker_training_pairs(
    context: dg.AssetExecutionContext,
    config: TrainingPairsConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    llms: LlmProvider,
    vector_store: VectorStore,
    ray_cluster: RayCluster,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """(query, passage, label, split) pairs from the current golden set
    (`reranker/pairs/<version>/pairs.parquet`): each question's reference context as the
    positive, the best retrieved contexts that are not a reference as hard negatives; train and
    validation split by document, so no document's passages are on both sides."""
    store = object_store.client()
    corpus = corpus_of(context)
    workers = WorkerSettings(object_store, embeddings, llms, vector_store, ray_cluster, search_space, corpus)
    pointer = workers.index_pointer(config.index_key)
    parser = search_space.index_settings[config.index_key][2]  # the index's text: the contexts aligned to it
    golden_version, questions, contexts = read_current_golden(store, corpus, parser)
    retriever = load_retriever(workers.index(config.index_key, pointer), config.candidates)
    pairs = training_pairs(questions, contexts, retriever, config.negatives, config.validation_fraction, config.seed)
    version = content_hash([golden_version, pointer["version"], config.model_dump(), pairs.to_dict(orient="records")])
    store.write_parquet(layout.reranker_pairs_key(version), pairs)
    store.write_json(layout.RERANKER_PAIRS_POINTER, {"version": version, "golden_version": golden_version})
    by_split = pairs.groupby("split")
    context.log.info("reranker pairs %s: %d pairs of %d questions", version, len(pairs), pairs["question_id"].nunique())
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "golden_version": golden_version,
            "pairs": len(pairs),
            "positives": int(pairs["label"].sum()),
            "negatives": int((pairs["label"] == 0).sum()),
            "questions_by_split": {split: int(group["question_id"].nunique()) for split, group in by_split},
            "documents_by_split": {split: int(group["document_id"].nunique()) for split, group in by_split},
        },
        data_version=dg.DataVersion(version),
    )


class RerankerConfig(dg.Config):
    """How the cross-encoder reranker is fine-tuned."""

    base_model: str = Field(
        default="all-MiniLM-L6-v2", description="Bundled model name, local directory or Hugging Face id to start from."
    )
    epochs: int = Field(default=1, description="Training epochs.")
    batch_size: int = Field(default=16, description="Pairs per training step.")
    learning_rate: float = Field(default=2e-5, description="AdamW learning rate.")
    lora_rank: int = Field(default=0, description="0 trains every weight; above 0, LoRA adapters of that rank (peft).")
    seed: int = Field(default=0, description="Seed of training.")


def _architecture(model_dir: Path) -> tuple[int, int, int]:
    """(parameters, hidden size, layers) of a local model directory, from its safetensors
    headers and `config.json`; (0, 768, 12), BERT-base's sizes, for a hub id not on disk."""
    import json

    from safetensors import safe_open

    if not model_dir.is_dir():
        return 0, 768, 12
    config = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").exists() else {}
    total = 0
    for path in model_dir.glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as tensors:
            for key in tensors.keys():  # noqa: SIM118 - safe_open has no __iter__
                count = 1
                for size in tensors.get_slice(key).get_shape():
                    count *= size
                total += count
    return total, int(config.get("hidden_size", 768)), int(config.get("num_hidden_layers", 12))


def _train_and_store(base_model: str, pairs_key: str, store_settings: ObjectStoreSettings, prefix: str, **options):
    """The Ray task: reads the pairs, fine-tunes, uploads the model to `prefix`."""
    store = ObjectStoreClient(store_settings)
    pairs = store.read_parquet(pairs_key)
    with tempfile.TemporaryDirectory() as directory:
        result = fine_tune(base_model, pairs, directory, **options)
        store.upload_dir(directory, prefix)
    result.model_dir = prefix
    return result


@dg.asset(deps=[reranker_training_pairs], group_name="reranking", kinds={"ray", "pytorch", "mlflow"})
def finetuned_reranker(
    context: dg.AssetExecutionContext,
    config: RerankerConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    ray_cluster: RayCluster,
    tracker: MlflowTracker,
) -> dg.MaterializeResult:
    """A cross-encoder fine-tuned on the reranker pairs (`reranker/model/<version>/`, pointer
    `reranker/model/current.json`), trained in one Ray task whose memory (and GPUs, when the
    cluster has them) come from `lib.capacity` for the base model's parameter count. Logged to
    MLflow: parameters, the training-loss curve, validation MRR of the positive among its
    candidates before and after training, and the model itself, registered as
    `dream-reranker` (a pyfunc scoring (query, passage) pairs, `dream_assets.reranker_entry`)."""
    import ray

    store = object_store.client()
    pairs_pointer = store.read_json(layout.RERANKER_PAIRS_POINTER)
    pairs_key = layout.reranker_pairs_key(pairs_pointer["version"])
    bundled = BUNDLED_MODELS.get(config.base_model)
    base = str(bundled_model_path(config.base_model, embeddings.models_dir)) if bundled else config.base_model
    ray_cluster.connect()
    parameters, estimate, resources = _training_resources(config, base)
    version = content_hash([pairs_pointer["version"], config.model_dump(), base])
    prefix = layout.reranker_model_prefix(version)
    context.log.info("fine-tuning %s (%d parameters) with Ray resources %s", config.base_model, parameters, resources)
    options = {k: v for k, v in config.model_dump().items() if k != "base_model"}
    task = ray.remote(_train_and_store).options(num_cpus=1, **resources)
    result = ray.get(task.remote(base, pairs_key, object_store.settings(), prefix, **options))

    run_id, model_version = _log_training(tracker, store, config, pairs_pointer["version"], version, result, estimate)
    store.write_json(layout.RERANKER_POINTER, {"version": version, "prefix": prefix, "base_model": config.base_model})
    context.log.info("reranker %s: validation MRR %.3f -> %.3f", version, result.mrr_before, result.mrr_after)
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "uri": store.uri(prefix),
            "validation_mrr_before": result.mrr_before,
            "validation_mrr_after": result.mrr_after,
            "train_steps": len(result.loss_curve),
            "final_train_loss": result.loss_curve[-1][1] if result.loss_curve else float("nan"),
            "trainable_parameters": result.trainable_parameters,
            "ray_resources": {k: float(v) for k, v in resources.items()},
            "mlflow_run": dg.MetadataValue.url(tracker.run_url(run_id)),
            "mlflow_model": f"models:/{RERANKER_MODEL_NAME}/{model_version}",
        },
        data_version=dg.DataVersion(version),
    )


def _training_resources(config: RerankerConfig, base: str):
    """(parameter count, `lib.capacity` memory estimate, Ray resources of the training task)
    for fine-tuning `base` as `config` says, on the connected Ray cluster (its GPUs, if any)."""
    import ray

    parameters, hidden_size, layers = _architecture(Path(base))
    adapters = lora_parameter_count(hidden_size, layers, config.lora_rank) if config.lora_rank else 0
    estimate = estimate_memory(parameters, "fp32", lora_parameters=adapters)
    needed = estimate.lora_training_bytes if config.lora_rank else estimate.full_training_bytes
    gpu_memory = 0.0
    if ray.cluster_resources().get("GPU", 0) >= 1:
        import torch

        gpu_memory = float(torch.cuda.get_device_properties(0).total_memory) if torch.cuda.is_available() else 0.0
    return parameters, estimate, ray_resources(needed, gpu_memory)


def _log_training(tracker: MlflowTracker, store, config, pairs_version: str, version: str, result, estimate):
    """The training's MLflow run (parameters, memory estimate, validation MRR, loss curve) with
    the model registered as `dream-reranker`; returns (run id, model version)."""
    tags = {TAG_KIND: "reranker", TAG_RERANKER_VERSION: version}
    run_id = tracker.find_or_create_run(f"reranker-{version}", tags)
    params = {**config.model_dump(), "pairs_version": pairs_version, "parameters": result.parameters}
    params["trainable_parameters"] = result.trainable_parameters
    params.update({f"memory_gib_{k}": round(v, 3) for k, v in estimate.gib().items()})
    metrics = {"validation_mrr_before": result.mrr_before, "validation_mrr_after": result.mrr_after}
    tracker.log_trial(run_id, params, {**metrics, "train_seconds": result.seconds})
    tracker.log_curve(run_id, "train_loss", result.loss_curve)
    model_version = _register(tracker, store, run_id, layout.reranker_model_prefix(version), version)
    tracker.finish(run_id)
    return run_id, model_version


def _register(tracker: MlflowTracker, store, run_id: str, prefix: str, version: str) -> str:
    """Logs the stored reranker on its run as a pyfunc model (`dream_assets.reranker_entry`) and
    registers it as `RERANKER_MODEL_NAME`, unless a version of that reranker is registered
    already; returns the registered version."""
    from dream_assets.reranker_entry import RERANKER_ARTIFACT, reranker_signature

    found = tracker.find_model_version(RERANKER_MODEL_NAME, TAG_RERANKER_VERSION, version)
    if found is not None:
        return found
    with tempfile.TemporaryDirectory() as directory:
        model_dir = store.download_dir(prefix, Path(directory) / "reranker")
        entry = module_file("dream_assets.reranker_entry")
        registered = tracker.log_pyfunc_model(
            run_id, entry, {RERANKER_ARTIFACT: str(model_dir)}, RERANKER_MODEL_NAME, reranker_signature(), "reranker"
        )
    tracker.tag_model_version(RERANKER_MODEL_NAME, registered, TAG_RERANKER_VERSION, version)
    return registered
