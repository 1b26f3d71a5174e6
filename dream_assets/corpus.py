"""Corpora: the named set of documents one run of the chain is about.

Every PDF ever discovered is a `documents` partition of the one Dagster instance, so a second
collection of PDFs in the same state directory would otherwise mix with the first. A run names
its corpus with the run tag `dream/corpus` (`dream run --corpus`, or a tag in the Dagster
launchpad); its document ids are stored at `corpora/<name>/documents.json`, and the golden set's
and the indexes' current pointers are kept per corpus (`dream_assets.layout`). Golden sets,
indexes, trials and leaderboards are content-addressed (a different set of documents gives a
different golden-set version), so two corpora give two leaderboards. A run without the tag
reads every `documents` partition (the instance-wide corpus '', as before corpora existed).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from dream_assets import layout
from dream_assets.hashing import slugify

TAG_CORPUS = "dream/corpus"


def corpus_name(source_uri: str) -> str:
    """The default corpus name of a PDF source: the slug of its folder or S3 prefix's last part
    (`/data/contracts/` and `s3://bucket/contracts` both give `contracts`).

    Raises:
        ValueError: if that part has no letter or digit (name the corpus explicitly then).
    """
    path = source_uri.split("://", 1)[-1].rstrip("/")
    return slugify(PurePosixPath(path).name or path)


def corpus_of(context) -> str:
    """The corpus of a Dagster run (its `dream/corpus` tag), '' when untagged."""
    return context.run.tags.get(TAG_CORPUS, "")


LATEST_CORPUS = "corpora/latest.json"


def write_corpus(store, corpus: str, document_ids: list[str], source_uri: str) -> None:
    """Records which documents make up `corpus` (replacing an earlier selection of that name)
    and that it is the latest corpus run (`latest_corpus`)."""
    store.write_json(
        layout.corpus_key(corpus), {"corpus": corpus, "source": source_uri, "documents": sorted(document_ids)}
    )
    store.write_json(LATEST_CORPUS, {"corpus": corpus})


def current_corpus(store) -> str:
    """The corpus `dream run` last ran on, '' (every document partition) when none was."""
    return store.read_json(LATEST_CORPUS)["corpus"] if store.exists(LATEST_CORPUS) else ""


def latest_corpus(store) -> str:
    """The corpus `dream run` last ran on.

    Raises:
        FileNotFoundError: if no corpus was ever run.
    """
    corpus = current_corpus(store)
    if not corpus:
        raise FileNotFoundError("no corpus has been run in this state directory yet: `dream run` first")
    return corpus


def corpus_record(store, corpus: str) -> dict:
    """What `write_corpus` recorded of `corpus`: its `documents` (ids) and `source` (URI).

    Raises:
        FileNotFoundError: naming the corpus when it was never recorded (`dream run` records it).
    """
    key = layout.corpus_key(corpus)
    if not store.exists(key):
        raise FileNotFoundError(f"corpus {corpus!r} is unknown: `dream run --corpus {corpus}` records its documents")
    return store.read_json(key)
