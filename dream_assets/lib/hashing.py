"""Content hashes: the identity of every artifact DREAM stores (corpus, golden set, index)."""

from __future__ import annotations

import hashlib
import json
import re
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
