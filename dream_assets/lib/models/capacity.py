"""Memory a model needs for inference, full fine-tuning and LoRA fine-tuning, to size Ray tasks.

Figures are per parameter and cover weights and optimizer state only (not activations, which
grow with batch size and sequence length; `activation_margin` adds a share for them).

Sources:
- Inference: the parameter's storage size: 4 bytes in fp32, 2 in fp16/bf16, 1 in int8, 0.5 in
  4-bit (HuggingFace Transformers docs, "Model training anatomy" / "Anatomy of Model's Memory").
- Full training with Adam in mixed precision: 16 bytes per parameter = fp16 weights 2 + fp16
  gradients 2 + fp32 master weights 4 + Adam first moment 4 + Adam second moment 4 (Rajbhandari
  et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", SC 2020,
  section 3.1: "2Ψ + 2Ψ + KΨ" with K = 12 for mixed-precision Adam).
- LoRA (Hu et al., 2021): the frozen base weights at their storage size (2 bytes in fp16), plus
  the trainable adapter parameters at the full-training 16 bytes each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BYTES_PER_PARAMETER = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
ADAM_MIXED_PRECISION_BYTES = 16.0  # 2 weights + 2 gradients + 4 fp32 master + 4 Adam m + 4 Adam v
GIB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed by one model for one use.

    Attributes:
        inference_bytes: weights alone at the given dtype.
        full_training_bytes: mixed-precision Adam training of every parameter (16 bytes each).
        lora_training_bytes: frozen weights at the dtype plus 16 bytes per adapter parameter.
        lora_parameters: trainable adapter parameters counted in `lora_training_bytes`.
    """

    inference_bytes: float
    full_training_bytes: float
    lora_training_bytes: float
    lora_parameters: int

    def gib(self) -> dict[str, float]:
        """The three figures in GiB."""
        return {
            "inference": self.inference_bytes / GIB,
            "full_training": self.full_training_bytes / GIB,
            "lora_training": self.lora_training_bytes / GIB,
        }


def lora_parameter_count(hidden_size: int, layers: int, rank: int, matrices_per_layer: int = 2) -> int:
    """Trainable parameters of LoRA adapters: each adapted `hidden_size` x `hidden_size`
    matrix gets A (rank x hidden) and B (hidden x rank), i.e. 2 * rank * hidden parameters; by
    default two matrices per layer (query and value, the LoRA paper's choice)."""
    return 2 * rank * hidden_size * matrices_per_layer * layers


def estimate_memory(parameters: int, dtype: str = "fp16", lora_parameters: int = 0) -> MemoryEstimate:
    """Memory of a model of `parameters` parameters stored as `dtype`.

    Args:
        parameters: total parameters of the model.
        dtype: storage type of the weights for inference and of the frozen LoRA base
            (`BYTES_PER_PARAMETER` keys).
        lora_parameters: trainable adapter parameters (see `lora_parameter_count`).

    Raises:
        ValueError: for a negative count or an unknown dtype.
    """
    if parameters < 0 or lora_parameters < 0:
        raise ValueError(f"parameter counts must be >= 0, got {parameters} and {lora_parameters}")
    if dtype not in BYTES_PER_PARAMETER:
        raise ValueError(f"unknown dtype {dtype!r}; known: {sorted(BYTES_PER_PARAMETER)}")
    weights = parameters * BYTES_PER_PARAMETER[dtype]
    return MemoryEstimate(
        inference_bytes=weights,
        full_training_bytes=parameters * ADAM_MIXED_PRECISION_BYTES,
        lora_training_bytes=weights + lora_parameters * ADAM_MIXED_PRECISION_BYTES,
        lora_parameters=lora_parameters,
    )


def ray_resources(required_bytes: float, gpu_memory_bytes: float = 0.0, activation_margin: float = 0.5) -> dict:
    """Ray task options for a job needing `required_bytes` (plus `activation_margin` of it for
    activations): `num_gpus` = GPUs of `gpu_memory_bytes` each that hold it (0 without GPUs),
    and `memory` in bytes (Ray's memory resource, for scheduling on host RAM)."""
    needed = required_bytes * (1.0 + activation_margin)
    options: dict = {"memory": int(needed)}
    if gpu_memory_bytes > 0:
        options["num_gpus"] = max(1, math.ceil(needed / gpu_memory_bytes))
    return options
