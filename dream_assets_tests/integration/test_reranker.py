"""Fine-tuning the reranker through its Dagster asset: one epoch on 50 real SQuAD pairs in a Ray
task, validation MRR before and after in the metadata and in MLflow with the loss curve, the
model stored in the object store and loadable as a cross-encoder."""

import json
import math

import dagster as dg
import pytest

from dream_assets import layout
from dream_assets.defs.golden.assets import DEMO_SQUAD
from dream_assets.defs.reranking.assets import finetuned_reranker
from dream_assets.deployments import local_resources
from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets.lib.retrieval.indexes import build_index
from dream_assets.lib.retrieval.methods.chunks import ChunksMethod
from dream_assets.lib.retrieval.reranker_training import PAIR_COLUMNS, split_documents
from dream_assets.lib.retrieval.retriever import Retriever
from dream_assets_tests.conftest import DEMO_PDFS
from resources.embeddings import EmbeddingProvider

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _pairs():
    """10 questions from 5 articles, each with its paragraph and 4 other paragraphs of its
    article as negatives: 50 pairs."""
    squad = json.loads(DEMO_SQUAD.read_text())
    articles = squad["data"][:5]
    split = split_documents([a["title"] for a in articles], 0.4)
    rows = []
    for article in articles:
        paragraphs = [p for p in article["paragraphs"] if any(not q.get("is_impossible") for q in p["qas"])][:6]
        for index in range(2):
            question = next(q for q in paragraphs[index]["qas"] if not q.get("is_impossible"))
            others = [p["context"] for i, p in enumerate(paragraphs) if i != index][:4]
            common = (question["id"], article["title"], split[article["title"]], question["question"])
            rows.append((*common, paragraphs[index]["context"], 1))
            rows.extend((*common, passage, 0) for passage in others)
    import pandas as pd

    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def test_one_epoch_on_fifty_pairs_is_measured_logged_and_stored(tmp_path, models_dir, ray_session):
    resources = local_resources(tmp_path / "state", str(tmp_path))
    resources["embeddings"] = EmbeddingProvider(models_dir=str(models_dir))
    store = resources["object_store"].client()
    pairs = _pairs()
    assert len(pairs) == 50 and set(pairs["split"]) == {"train", "validation"}
    store.write_parquet(layout.reranker_pairs_key("test"), pairs)
    store.write_json(layout.RERANKER_PAIRS_POINTER, {"version": "test"})
    with dg.instance_for_test() as instance:
        result = dg.materialize([finetuned_reranker], resources=resources, instance=instance)
    assert result.success
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("finetuned_reranker")[0].metadata.items()}
    assert 0 < metadata["validation_mrr_before"] <= 1 and 0 < metadata["validation_mrr_after"] <= 1
    assert metadata["train_steps"] == math.ceil(len(pairs[pairs["split"] == "train"]) / 16)
    assert metadata["ray_resources"]["memory"] > 22e6 * 16  # MiniLM, Adam in mixed precision

    tracker = resources["tracker"]
    client = tracker.client()
    (run,) = client.search_runs([tracker.experiment_id()], "tags.`dream.kind` = 'reranker'")
    assert run.data.metrics["validation_mrr_before"] == pytest.approx(metadata["validation_mrr_before"])
    assert run.data.metrics["validation_mrr_after"] == pytest.approx(metadata["validation_mrr_after"])
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == list(range(1, metadata["train_steps"] + 1))
    # the registered MLflow model scores pairs as the stored cross-encoder does
    assert metadata["mlflow_model"] == "models:/dream-reranker/1"
    import mlflow
    import pandas as pd
    from sentence_transformers import CrossEncoder

    mlflow.set_tracking_uri(tracker.tracking_uri)
    try:
        served = mlflow.pyfunc.load_model(metadata["mlflow_model"])
    finally:
        mlflow.set_tracking_uri(None)
    pairs_in = pd.DataFrame({"query": ["Who led the Normans?"] * 2, "passage": ["Rollo led them.", "Bread rises."]})
    stored_dir = store.download_dir(store.read_json(layout.RERANKER_POINTER)["prefix"], tmp_path / "stored")
    expected = CrossEncoder(str(stored_dir)).predict(list(zip(pairs_in["query"], pairs_in["passage"], strict=True)))
    assert served.predict(pairs_in) == pytest.approx([float(score) for score in expected], abs=1e-5)

    # the stored model reranks a real retriever's candidates: top-2 of its top-6, by score
    pointer = store.read_json(layout.RERANKER_POINTER)
    model_dir = str(store.download_dir(pointer["prefix"], tmp_path / "model"))
    method = ChunksMethod(chunk_size=128, chunk_overlap=16)
    embed_model = make_embedding(resources["embeddings"].settings_for("all-MiniLM-L6-v2"))
    document = parse_pdf("normans", (DEMO_PDFS / "Normans.pdf").read_bytes())
    build_index([document], method, embed_model, tmp_path / "index")
    plain = Retriever(tmp_path / "index", method, embed_model, top_k=6)
    reranked = Retriever(tmp_path / "index", method, embed_model, top_k=2, reranker=model_dir)
    question = "Who was the leader of the Norse raiders?"
    candidates = [c.node_id for c in plain.retrieve(question)]
    kept = reranked.retrieve(question)
    assert len(kept) == 2 and {c.node_id for c in kept} <= set(candidates)
    assert kept[0].score >= kept[1].score and all(math.isfinite(c.score) for c in kept)
