"""Content hashes: the identity of every artifact DREAM stores (corpus, golden set, index)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

_SLUG_INVALID = re.compile(r"[^a-z0-9]+")


def content_hash(value: Any, length: int = 12) -> str:
    """Returns the first `length` hex digits of the SHA-256 of `value`'s canonical JSON.

    Canonical JSON: keys sorted, no whitespace, non-ASCII kept; so equal values give equal
    hashes across processes and machines.

    Raises:
        TypeError: if `value` holds something JSON cannot encode.
    """
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


def sha256_bytes(data: bytes) -> str:
    """Returns the full hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def slugify(name: str) -> str:
    """Lower-cases `name` and joins its alphanumeric runs with '-' ('1973_oil_crisis.pdf' with
    the suffix removed gives '1973-oil-crisis'); a valid Dagster partition key.

    Raises:
        ValueError: if nothing alphanumeric is left.
    """
    slug = _SLUG_INVALID.sub("-", name.lower()).strip("-")
    if not slug:
        raise ValueError(f"cannot make a slug from {name!r}: it has no letter or digit")
    return slug


def file_ids(names: dict[str, str]) -> dict[str, str]:
    """Readable, stable ids for files: the slug of each name (`slugify`), unless the slug is
    empty (a name with no ASCII letter or digit, such as a Japanese title) or shared by several
    files (`Slug Collision.pdf`, `slug_collision.pdf`); those get `<slug or 'document'>-<the
    first 8 hex digits of the SHA-256 of the file's key>`. The key is the file's path under its
    source, so ids are the same on every run and machine; one odd name never fails the listing.

    Args:
        names: each file's name to slug (without its suffix), by key.

    Returns:
        The key of each file, by id.
    """
    slugs = {}
    for key, name in names.items():
        try:
            slugs[key] = slugify(name)
        except ValueError:
            slugs[key] = ""
    counts = Counter(slugs.values())
    ids = {}
    for key, slug in sorted(slugs.items()):
        if slug and counts[slug] == 1:
            ids[slug] = key
        else:
            ids[f"{slug or 'document'}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:8]}"] = key
    return ids


def module_file(name: str) -> str:
    """The file of the importable module `name` (what MLflow's models from code log).

    Raises:
        ModuleNotFoundError: if `name` is not an importable module with a file.
    """
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"no module file for {name!r}")
    return spec.origin
