"""The capacity helper's figures against hand computations."""

import pytest

from dream_assets.lib.models.capacity import GIB, estimate_memory, lora_parameter_count, ray_resources


def test_seven_billion_parameters():
    estimate = estimate_memory(7_000_000_000, "fp16")
    assert estimate.inference_bytes == 14e9  # 2 bytes per parameter
    assert estimate.full_training_bytes == 112e9  # 2 + 2 + 4 + 4 + 4 bytes per parameter
    assert estimate.gib()["inference"] == pytest.approx(13.04, abs=0.01)


def test_lora_adds_sixteen_bytes_per_adapter_parameter():
    adapters = lora_parameter_count(hidden_size=384, layers=6, rank=8)
    assert adapters == 2 * 8 * 384 * 2 * 6
    estimate = estimate_memory(22_700_000, "fp32", lora_parameters=adapters)
    assert estimate.lora_training_bytes == 22_700_000 * 4 + adapters * 16


def test_bad_input_and_ray_resources():
    with pytest.raises(ValueError, match="unknown dtype"):
        estimate_memory(10, "fp8")
    with pytest.raises(ValueError, match=">= 0"):
        estimate_memory(-1)
    assert ray_resources(10 * GIB, gpu_memory_bytes=8 * GIB) == {"memory": 15 * GIB, "num_gpus": 2}
    assert ray_resources(1 * GIB, activation_margin=0) == {"memory": GIB}
