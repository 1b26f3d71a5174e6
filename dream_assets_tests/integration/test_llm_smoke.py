"""The install's LLM smoke test: passes on the bundled GGUFs with this llama.cpp build, fails with
one line and a non-zero exit on a GGUF that cannot run, and names the signal a process died of."""

import signal
import subprocess
import sys

import pytest

from dream_assets.lib.llm import smoke_check
from dream_assets.lib.llm.smoke_check import signal_description, smoke_test
from dream_assets.lib.models.bundled import bundled_model_path

pytestmark = pytest.mark.integration


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dream_assets.lib.llm.smoke_check", *args], capture_output=True, text=True, check=False
    )


def test_the_bundled_ggufs_generate_with_this_build(models_dir):
    done = _run("--models-dir", str(models_dir))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    names = ["gemma-3-270m", "SmolLM2-135M-Instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]
    assert [line.split()[4] for line in lines] == names
    assert all(" generated 4 tokens " in line and "AVX2" in line for line in lines)


def test_a_corrupted_gguf_fails_with_one_line_and_a_non_zero_exit(models_dir, tmp_path):
    corrupted = tmp_path / "gemma-corrupted.gguf"
    data = bytearray(bundled_model_path("gemma-3-270m", models_dir).read_bytes())
    data[:4] = b"XXXX"  # not the GGUF magic any more
    corrupted.write_bytes(bytes(data))
    done = _run("--gguf", str(corrupted))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("LLM smoke test FAILED: gemma-corrupted.gguf: ") and "Failed to load model" in line


def test_a_process_killed_by_a_signal_is_reported_with_the_signal(monkeypatch, tmp_path):
    # the child dies as a llama.cpp build with an instruction this CPU lacks would
    monkeypatch.setattr(smoke_check, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGILL)")
    result = smoke_test("gemma-3-270m", tmp_path / "any.gguf")
    assert result.failure == "killed by SIGILL (Illegal instruction)"
    assert signal_description(-signal.SIGSEGV) == "SIGSEGV (Segmentation fault)"
    assert signal_description(0) == ""
