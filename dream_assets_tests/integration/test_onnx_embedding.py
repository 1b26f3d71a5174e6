"""The ONNX Runtime embedding backends on real chunks of a demo PDF: int8 vectors stay within
cosine 0.98 of torch's, the export is made once (content-addressed, its hash checked), and an
index built with the int8 backend is reused on a re-run."""

import json

import numpy as np
import pytest

from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets.lib.models.onnx_embedding import OnnxExportError
from dream_assets.lib.retrieval.indexes import ensure_index
from dream_assets.lib.retrieval.methods.chunks import ChunksMethod
from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings
from dream_assets_tests.conftest import DEMO_PDFS
from resources.embeddings import EmbeddingProvider

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def normans():
    return parse_pdf("normans", (DEMO_PDFS / "Normans.pdf").read_bytes())


def test_int8_vectors_match_torch_and_the_export_is_made_once(normans, tmp_path):
    chunks = [normans.text[i : i + 1000] for i in range(0, 24000, 1000)]
    provider = EmbeddingProvider(models_dir=str(tmp_path / "models"))
    reference = np.array(make_embedding(provider.settings_for("all-MiniLM-L6-v2")).get_text_embedding_batch(chunks))
    int8 = make_embedding(provider.settings_for("all-MiniLM-L6-v2@onnx-int8"))
    vectors = np.array(int8.get_text_embedding_batch(chunks))
    assert vectors.shape == reference.shape == (24, 384)
    cosine = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.98, cosine.min()
    # padding is masked: in fp32 a short text embeds alike alone and beside a long one (int8
    # moves a little with its batch: activations are quantized with the batch's range)
    fp32 = make_embedding(provider.settings_for("all-MiniLM-L6-v2@onnx"))
    alone, padded = fp32.embed(["Who were the Normans?"])[0], fp32.embed(["Who were the Normans?", chunks[0]])[0]
    assert float(alone @ padded) > 0.9999
    query = np.array(int8.get_query_embedding("Who were the Normans?"))
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)  # the model's Normalize module kept
    manifests = {
        json.loads(p.read_text())["backend"]: p for p in (tmp_path / "models" / "onnx").glob("*/manifest.json")
    }
    manifest = manifests["onnx-int8"]
    before = manifest.stat().st_mtime_ns
    make_embedding(provider.settings_for("all-MiniLM-L6-v2@onnx-int8"))  # exported already: reused
    assert manifest.stat().st_mtime_ns == before and len(list((tmp_path / "models" / "onnx").iterdir())) == 2
    (manifest.parent / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(OnnxExportError, match="SHA-256 differs"):
        make_embedding(provider.settings_for("all-MiniLM-L6-v2@onnx-int8"))


def test_an_index_built_with_the_int8_backend_is_reused(normans, tmp_path):
    store = ObjectStoreClient(ObjectStoreSettings(root=str(tmp_path / "store")))
    settings = EmbeddingProvider(models_dir=str(tmp_path / "models")).settings_for("all-MiniLM-L6-v2@onnx-int8")
    method = ChunksMethod(chunk_size=256, chunk_overlap=32)
    first = ensure_index(store, [normans], "chunks256o32_minilm-l6-onnx-int8", method, settings)
    again = ensure_index(store, [normans], "chunks256o32_minilm-l6-onnx-int8", method, settings)
    assert first["built"] and first["embedded"] > 0
    assert not again["built"] and again["embedded"] == 0 and again["version"] == first["version"]
    torch = EmbeddingProvider(models_dir=str(tmp_path / "models")).settings_for("all-MiniLM-L6-v2")
    assert ensure_index(store, [normans], "chunks256o32_minilm-l6", method, torch)["version"] != first["version"]
