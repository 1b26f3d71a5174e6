"""Bundled GGUF models in numbered parts: the real Qwen files pass their pins and header checks;
a different part, a different architecture or a different chat template is refused by name."""

import hashlib

import pytest

from dream_assets.lib.models import split_gguf
from dream_assets.lib.models.bundled import BUNDLED_MODELS, bundled_model_path
from dream_assets.lib.models.split_gguf import ModelIntegrityError, SplitGguf, assemble, check_header


def test_the_bundled_qwen_passes_its_pins_and_header_check(models_dir):
    path = bundled_model_path("qwen2.5-coder-0.5b-instruct", models_dir)
    assert path.name == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert split_gguf.sha256_file(path).startswith("1d9614638d18")
    check_header(path, "qwen2", split_gguf.QWEN25_CHAT_TEMPLATES)  # raises on a mismatch
    with pytest.raises(ModelIntegrityError, match="architecture 'qwen2', expected 'llama'"):
        check_header(path, "llama", split_gguf.QWEN25_CHAT_TEMPLATES)
    with pytest.raises(ModelIntegrityError, match="chat template SHA-256 .* is not a pinned stock template"):
        check_header(path, "qwen2", ("0" * 64,))
    spec = BUNDLED_MODELS["qwen2.5-coder-1.5b-instruct"].split
    assert len(spec.part_sha256) == 22 and all(path.exists() for _, path in spec.part_paths())


def _fake_parts(tmp_path, monkeypatch, contents: list[bytes]) -> None:
    for index, content in enumerate(contents, start=1):
        (tmp_path / f"fake_part{index}" / "data").mkdir(parents=True)
        (tmp_path / f"fake_part{index}" / "data" / f"part{index:02d}.bin").write_bytes(content)
    monkeypatch.setattr(split_gguf, "package_dir", lambda package: tmp_path / package)


def test_a_different_part_is_named_and_nothing_is_assembled(tmp_path, monkeypatch):
    good = [b"GGUF part one", b"part two", b"part three"]
    spec = SplitGguf(
        file_name="model.gguf",
        package_prefix="fake_part",
        part_sha256=tuple(hashlib.sha256(part).hexdigest() for part in good),
        sha256=hashlib.sha256(b"".join(good)).hexdigest(),
        architecture="qwen2",
        chat_templates=(),
    )
    _fake_parts(tmp_path, monkeypatch, [good[0], b"another part two", good[2]])
    with pytest.raises(ModelIntegrityError, match=r"part 2 of 3 \(package fake_part2\): a different part"):
        assemble(spec, tmp_path / "models")
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())


def test_parts_that_assemble_into_something_else_are_refused(tmp_path, monkeypatch):
    parts = [b"GGUF part one", b"part two"]
    spec = SplitGguf(
        file_name="model.gguf",
        package_prefix="fake_part",
        part_sha256=tuple(hashlib.sha256(part).hexdigest() for part in parts),
        sha256="0" * 64,
        architecture="qwen2",
        chat_templates=(),
    )
    _fake_parts(tmp_path, monkeypatch, parts)
    with pytest.raises(ModelIntegrityError, match="assembled file .* differs from the pinned"):
        assemble(spec, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []  # the temporary file is removed
