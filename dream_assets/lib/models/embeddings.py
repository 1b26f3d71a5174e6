"""Embedding models without Dagster: `EmbeddingSettings` (plain data) and `make_embedding`, which
builds the LlamaIndex embedding in the process that uses it (a Ray worker or the Dagster step).
`resources.embeddings.EmbeddingProvider` (the Dagster resource) resolves names to settings.
"""

from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import BaseModel


class EmbeddingSettings(BaseModel):
    """How a worker loads one embedding model: `name` as in the search space, `model` a local
    directory (bundled) or a Hugging Face id, `device` (`cpu`, `cuda`), `batch_size` texts per
    forward pass, `backend` (`torch`, or `onnx` / `onnx-int8`: ONNX Runtime on an export kept
    under `models_dir`, `dream_assets.lib.models.onnx_embedding`)."""

    name: str
    model: str
    device: str = "cpu"
    batch_size: int = 32
    backend: str = "torch"
    models_dir: str = ""


def make_embedding(settings: EmbeddingSettings) -> BaseEmbedding:
    """Builds the LlamaIndex embedding model: sentence-transformers on torch, or ONNX Runtime on
    the model's export (made the first time, `dream_assets.lib.models.onnx_embedding.exported_model`)."""
    if settings.backend != "torch":
        from dream_assets.lib.models.onnx_embedding import OnnxEmbedding, exported_model

        path = exported_model(settings.model, settings.models_dir, settings.backend)
        from dream_assets.lib.models.threads import intra_op_threads

        return OnnxEmbedding(
            threads=intra_op_threads(),
            model_name=settings.name,
            model_dir=settings.model,
            onnx_path=str(path),
            embed_batch_size=settings.batch_size,
        )
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=settings.model, device=settings.device, embed_batch_size=settings.batch_size)
