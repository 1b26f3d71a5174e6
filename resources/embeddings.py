"""Embedding models: bundled sentence-transformers models, or any Hugging Face model name.

`EmbeddingProvider` is the Dagster resource; `make_embedding` builds the LlamaIndex embedding in
the process that uses it (a Ray worker or the Dagster step).
"""

from __future__ import annotations

import dagster as dg
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import BaseModel, Field

from resources.models import BUNDLED_MODELS, bundled_model_path, model_unavailable, split_backend


class EmbeddingSettings(BaseModel):
    """How a worker loads one embedding model: `name` as in the search space, `model` a local
    directory (bundled) or a Hugging Face id, `device` (`cpu`, `cuda`), `batch_size` texts per
    forward pass, `backend` (`torch`, or `onnx` / `onnx-int8`: ONNX Runtime on an export kept
    under `models_dir`, `resources.onnx_embedding`)."""

    name: str
    model: str
    device: str = "cpu"
    batch_size: int = 32
    backend: str = "torch"
    models_dir: str = ""


class EmbeddingProvider(dg.ConfigurableResource):
    """Resolves embedding model names: bundled models load from their packages offline; any other
    name is passed to sentence-transformers as a Hugging Face id (needs the model in the local
    Hugging Face cache or network access)."""

    models_dir: str = Field(description="Where bundled models are assembled and cached.")
    device: str = "cpu"
    batch_size: int = 32

    def settings_for(self, name: str) -> EmbeddingSettings:
        """Plain settings for the embedding model called `name`; assembles a bundled model the
        first time it is asked for.

        Raises:
            ValueError: if the model cannot be loaded here (`resources.models.model_unavailable`).
        """
        problem = model_unavailable(name, "embedding")
        if problem:
            raise ValueError(problem)
        base, backend = split_backend(name)
        bundled = BUNDLED_MODELS.get(base)
        model = str(bundled_model_path(base, self.models_dir)) if bundled and bundled.kind == "embedding" else base
        return EmbeddingSettings(
            name=name,
            model=model,
            device=self.device,
            batch_size=self.batch_size,
            backend=backend,
            models_dir=self.models_dir,
        )


def make_embedding(settings: EmbeddingSettings) -> BaseEmbedding:
    """Builds the LlamaIndex embedding model: sentence-transformers on torch, or ONNX Runtime on
    the model's export (made the first time, `resources.onnx_embedding.exported_model`)."""
    if settings.backend != "torch":
        from resources.onnx_embedding import OnnxEmbedding, exported_model

        path = exported_model(settings.model, settings.models_dir, settings.backend)
        return OnnxEmbedding(
            model_name=settings.name,
            model_dir=settings.model,
            onnx_path=str(path),
            embed_batch_size=settings.batch_size,
        )
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=settings.model, device=settings.device, embed_batch_size=settings.batch_size)
