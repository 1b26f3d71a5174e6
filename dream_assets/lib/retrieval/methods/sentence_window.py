"""Sentence window: one sentence per node, replaced by its neighbours at query time."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dream_assets.plugins.methods import RetrievalMethodBase


class SentenceWindowMethod(RetrievalMethodBase):
    """One sentence per node, replaced by `window_size` sentences either side at query time
    (LlamaIndex `SentenceWindowNodeParser` + `MetadataReplacementPostProcessor`)."""

    method: Literal["sentence_window"] = "sentence_window"  # pyright: ignore[reportIncompatibleVariableOverride] - the name narrowed
    window_size: int = Field(default=3, ge=0, description="Sentences either side handed to the LLM.")

    @property
    def slug(self) -> str:
        """Readable id, e.g. `window3`."""
        return f"window{self.window_size}"

    def node_parser(self, embed_model=None):  # noqa: D102
        from llama_index.core.node_parser import SentenceWindowNodeParser

        return SentenceWindowNodeParser.from_defaults(window_size=self.window_size)

    def finish_nodes(self, nodes):
        """Sets each sentence node's span to that of its window (the text it is replaced by)."""
        by_document: dict[str, list] = {}
        for node in nodes:
            by_document.setdefault(node.metadata["document_id"], []).append(node)
        for sentences in by_document.values():
            for index, node in enumerate(sentences):
                first = sentences[max(0, index - self.window_size)]
                last = sentences[min(len(sentences) - 1, index + self.window_size)]
                node.metadata["span_start"] = first.start_char_idx
                node.metadata["span_end"] = last.end_char_idx
        return nodes

    def postprocessor(self):  # noqa: D102
        from llama_index.core.postprocessor import MetadataReplacementPostProcessor

        return MetadataReplacementPostProcessor(target_metadata_key="window")
