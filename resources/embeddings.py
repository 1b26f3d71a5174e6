"""Embedding models: bundled sentence-transformers models, or any Hugging Face model name.

`EmbeddingProvider` is the Dagster resource; `dream_assets.lib.models.embeddings.make_embedding` builds the
LlamaIndex embedding in the process that uses it (a Ray worker or the Dagster step).
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from dream_assets.lib.models.bundled import BUNDLED_MODELS, bundled_model_path, model_unavailable, split_backend
from dream_assets.lib.models.embeddings import EmbeddingSettings


class EmbeddingProvider(dg.ConfigurableResource):
    """Resolves embedding model names: bundled models load from their packages offline; any other
    name is passed to sentence-transformers as a Hugging Face id (needs the model in the local
    Hugging Face cache or network access)."""

    models_dir: str = Field(description="Where bundled models are assembled and cached.")
    device: str = Field(default="cpu", description="Torch device of the embedding models: cpu or cuda.")
    batch_size: int = Field(default=32, description="Texts per forward pass of an embedding model.")

    def settings_for(self, name: str) -> EmbeddingSettings:
        """Plain settings for the embedding model called `name`; assembles a bundled model the
        first time it is asked for.

        Raises:
            ValueError: if the model cannot be loaded here (`dream_assets.lib.models.bundled.model_unavailable`).
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
