"""Embedding models: bundled sentence-transformers models, or any Hugging Face model name.

`EmbeddingProvider` is the Dagster resource; `make_embedding` builds the LlamaIndex embedding in
the process that uses it (a Ray worker or the Dagster step).
"""

from __future__ import annotations

import dagster as dg
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import BaseModel, Field

from resources.models import BUNDLED_MODELS, bundled_model_path, model_unavailable


class EmbeddingSettings(BaseModel):
    """How a worker loads one embedding model: `name` as in the search space, `model` a local
    directory (bundled) or a Hugging Face id, `device` (`cpu`, `cuda`), `batch_size` texts per
    forward pass."""

    name: str
    model: str
    device: str = "cpu"
    batch_size: int = 32


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
        bundled = BUNDLED_MODELS.get(name)
        model = str(bundled_model_path(name, self.models_dir)) if bundled and bundled.kind == "embedding" else name
        return EmbeddingSettings(name=name, model=model, device=self.device, batch_size=self.batch_size)


def make_embedding(settings: EmbeddingSettings) -> BaseEmbedding:
    """Builds the LlamaIndex embedding model (sentence-transformers under the hood)."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=settings.model, device=settings.device, embed_batch_size=settings.batch_size)
