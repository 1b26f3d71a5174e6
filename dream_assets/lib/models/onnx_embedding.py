"""A sentence-transformers model run by ONNX Runtime, in fp32 or dynamically quantized to int8.

sentence-transformers' own ONNX backend needs `optimum-onnx`, whose only release (0.1.0) pins
transformers below 4.58, against DREAM's 5.x; so the model's transformer is exported with
`torch.onnx.export` and quantized with ONNX Runtime's `quantize_dynamic` (int8 weights with
per-channel scales, activations quantized per batch at run time), and the sentence-transformers pipeline after it
(pooling, normalisation) is read from the model directory's `modules.json` and
`1_Pooling/config.json`.

Exports are content-addressed: `<models_dir>/onnx/<SHA-256 of (weights, torch, opset,
backend)>/model.onnx`, written under a temporary name and renamed, with a `manifest.json` that
records the exported file's SHA-256, checked on every load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from dream_assets.lib.models.split_gguf import sha256_file

BACKENDS = ("torch", "onnx", "onnx-int8")
OPSET = 17


class OnnxExportError(RuntimeError):
    """An exported model whose file no longer matches its manifest's SHA-256."""


def exported_model(model_dir: str | Path, models_dir: str | Path, backend: str) -> Path:
    """The ONNX file of the sentence-transformers model in `model_dir` for `backend` (`onnx` or
    `onnx-int8`), exported under `models_dir` the first time.

    Raises:
        ValueError: for a backend other than `onnx` or `onnx-int8`.
        OnnxExportError: when a cached export's SHA-256 differs from its manifest.
    """
    import torch

    if backend not in ("onnx", "onnx-int8"):
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS[1:])}")
    source = Path(model_dir)
    weights = source / "model.safetensors"
    key = hashlib.sha256(json.dumps([sha256_file(weights), torch.__version__, OPSET, backend]).encode()).hexdigest()
    target = Path(models_dir) / "onnx" / key[:16]
    manifest = target / "manifest.json"
    if manifest.exists():
        recorded = json.loads(manifest.read_text())
        if sha256_file(target / "model.onnx") != recorded["sha256"]:
            raise OnnxExportError(f"{target / 'model.onnx'}: SHA-256 differs from {manifest}; delete {target}")
        return target / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        staged = Path(scratch) / "model"
        staged.mkdir()
        fp32 = Path(scratch) / "fp32.onnx"
        _export(source, fp32)
        if backend == "onnx-int8":
            _quantize(fp32, staged / "model.onnx")
        else:
            fp32.rename(staged / "model.onnx")
        record = {"source": str(source), "weights_sha256": sha256_file(weights), "backend": backend, "opset": OPSET}
        record["sha256"] = sha256_file(staged / "model.onnx")
        (staged / "manifest.json").write_text(json.dumps(record, indent=2))
        try:
            os.rename(staged, target)
        except OSError:  # another process exported it first: theirs is as good
            if not manifest.exists():
                raise
    return target / "model.onnx"


def _quantize(source: Path, target: Path) -> None:
    """ONNX Runtime's dynamic quantization: int8 weights, one scale per output channel
    (per-tensor scales measured cosine 0.91 to fp32 on MiniLM, per-channel 0.99)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    advice = logging.Filter()
    advice.filter = lambda record: "pre-processing before quantization" not in record.getMessage()
    root.addFilter(advice)  # ONNX Runtime advises shape pre-processing on the root logger, for CNNs
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.removeFilter(advice)


def _export(source: Path, path: Path) -> None:
    """Exports the transformer of the sentence-transformers model at `source` (inputs
    `input_ids`, `attention_mask`; output the last hidden state), batch and sequence dynamic."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    class LastHiddenState(torch.nn.Module):  # keyword inputs: transformers' argument order moves
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # eager attention takes the padding mask as data (no shape-dependent shortcut to trace), and
    # the example batch is padded, so the traced graph masks padding for any batch
    wrapped = LastHiddenState(AutoModel.from_pretrained(source, attn_implementation="eager").eval())
    examples = ["an example sentence", "a second and rather longer example sentence, which pads the first"]
    tokens = AutoTokenizer.from_pretrained(source)(examples, padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer's notes on shape arithmetic (constant for any input here: the mask is as long
        # as the ids) and on advanced indexing (position ids, never negative); the padded-batch
        # equality is tested (`integration/test_onnx_embedding.py`)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning)
        torch.onnx.export(
            wrapped,
            (tokens["input_ids"], tokens["attention_mask"]),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=OPSET,
            dynamo=False,
        )


def pipeline_of(model_dir: str | Path) -> dict:
    """What sentence-transformers does after the transformer, from the model directory:
    `pooling` (`mean` or `cls`), `normalize` (a Normalize module follows) and `max_length`.

    Raises:
        ValueError: for a pooling mode other than mean or CLS.
    """
    directory = Path(model_dir)
    modules = json.loads((directory / "modules.json").read_text())
    pooling_dir = next(directory / m["path"] for m in modules if m["type"].endswith("Pooling"))
    config = json.loads((pooling_dir / "config.json").read_text())
    if config.get("pooling_mode_mean_tokens"):
        pooling = "mean"
    elif config.get("pooling_mode_cls_token"):
        pooling = "cls"
    else:
        raise ValueError(f"{pooling_dir}: only mean and CLS pooling are supported, got {config}")
    bert_config = directory / "sentence_bert_config.json"
    max_length = json.loads(bert_config.read_text()).get("max_seq_length", 512) if bert_config.exists() else 512
    normalize = any(m["type"].endswith("Normalize") for m in modules)
    return {"pooling": pooling, "normalize": normalize, "max_length": max_length}


class OnnxEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model over an exported ONNX transformer (`exported_model`), with
    the model directory's tokenizer and sentence-transformers' pooling and normalisation.

    Returns vectors of the model's hidden size (384 for MiniLM-L6, 768 for mpnet), float32.
    """

    model_dir: str
    onnx_path: str
    threads: int = 0

    _session: object = PrivateAttr(default=None)
    _tokenizer: object = PrivateAttr(default=None)
    _pipeline: dict = PrivateAttr(default_factory=dict)

    def __init__(self, **data) -> None:
        super().__init__(**data)
        import onnxruntime
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        self._session = onnxruntime.InferenceSession(self.onnx_path, options, providers=["CPUExecutionProvider"])
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self._pipeline = pipeline_of(self.model_dir)

    @classmethod
    def class_name(cls) -> str:  # noqa: D102 - LlamaIndex's serialisation name
        return "OnnxEmbedding"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeds `texts` in batches of `embed_batch_size`: an array (len(texts), hidden size)."""
        out = []
        for start in range(0, len(texts), self.embed_batch_size):
            batch = self._tokenizer(  # pyright: ignore[reportCallIssue] - a tokenizer
                texts[start : start + self.embed_batch_size],
                padding=True,
                truncation=True,
                max_length=self._pipeline["max_length"],
                return_tensors="np",
            )
            feeds = {"input_ids": batch["input_ids"].astype(np.int64)}
            feeds["attention_mask"] = batch["attention_mask"].astype(np.int64)
            (hidden,) = self._session.run(["last_hidden_state"], feeds)  # pyright: ignore[reportAttributeAccessIssue] - an InferenceSession
            out.append(self._pool(hidden, feeds["attention_mask"]))
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._pipeline["pooling"] == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[..., None].astype(hidden.dtype)
            vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self._pipeline["normalize"]:
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors.astype(np.float32)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()
