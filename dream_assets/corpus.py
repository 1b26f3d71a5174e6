"""Corpora: the named set of documents one run of the chain is about.

Every PDF ever discovered is a `documents` partition of the one Dagster instance, so a second
collection of PDFs in the same state directory would otherwise mix with the first. A run names
its corpus with the run tag `dream/corpus` (`dream run --corpus`, or a tag in the Dagster
launchpad); its document ids are stored at `corpora/<name>/documents.json`, and the golden set's
and the indexes' current pointers are kept per corpus (`dream_assets.layout`). Golden sets,
indexes, trials and leaderboards are content-addressed (a different set of documents gives a
different golden-set version), so two corpora give two leaderboards. A run without the tag
reads every `documents` partition (the instance-wide corpus '', as before corpora existed).

A corpus can be watched (`dream watch`, `watch_corpus`): bound to its source, with the options
of its runs; `watched_corpus_sensor` then keeps its document list current and refreshes it
(`dream_assets.defs.refresh`). The record's `versions` (document id to the source's ETag) are
what the last run or refresh applied.
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


# At most 63 characters: a corpus name is part of object-store keys, Dagster tags and MLflow
# model names; 63 is a DNS label's limit (RFC 1035), which every one of them accepts.
CORPUS_NAME_MAX = 63


def check_corpus_name(corpus: str) -> str:
    """`corpus` when it is a valid corpus name: a slug (lowercase ASCII letters, digits and
    inner '-', `dream_assets.hashing.slugify` of itself) of at most `CORPUS_NAME_MAX`
    characters, so it can be neither a path (`../x`) nor break a quoted filter (`a'b`).

    Raises:
        ValueError: naming the corpus and the rule, when it is not.
    """
    try:
        valid = slugify(corpus) == corpus and len(corpus) <= CORPUS_NAME_MAX
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(
            f"corpus name {corpus!r}: use lowercase letters, digits and inner '-' only, at most"
            f" {CORPUS_NAME_MAX} characters (e.g. {_suggestion(corpus)!r})"
        )
    return corpus


def _suggestion(corpus: str) -> str:
    """A valid name close to `corpus`, for the error message."""
    try:
        return slugify(corpus.encode("ascii", "ignore").decode())[:CORPUS_NAME_MAX].strip("-") or "my-corpus"
    except ValueError:
        return "my-corpus"


def corpus_of(context) -> str:
    """The corpus of a Dagster run (its `dream/corpus` tag), '' when untagged.

    Raises:
        ValueError: when the tag is not a valid corpus name (`check_corpus_name`): a run
            launched by hand with a bad tag fails at its first step, before any work.
    """
    corpus = context.run.tags.get(TAG_CORPUS, "")
    return check_corpus_name(corpus) if corpus else ""


LATEST_CORPUS = "corpora/latest.json"


def write_corpus(
    store, corpus: str, document_ids: list[str], source_uri: str, versions: dict[str, str] | None = None
) -> None:
    """Records which documents make up `corpus` (replacing an earlier selection of that name),
    the source's version (ETag) of each that this selection applied, when known, and that it is
    the latest corpus run (`latest_corpus`)."""
    record = {"corpus": corpus, "source": source_uri, "documents": sorted(document_ids)}
    if versions is not None:
        record["versions"] = {document_id: versions[document_id] for document_id in sorted(versions)}
    store.write_json(layout.corpus_key(corpus), record)
    store.write_json(LATEST_CORPUS, {"corpus": corpus})


def watch_corpus(store, corpus: str, source_uri: str, options: dict) -> dict:
    """Binds `corpus` to `source_uri`: `watched_corpus_sensor` keeps its documents current and
    refreshes its leaderboard and winner with `options` (`RefreshOptions` fields). Returns the
    binding. Re-binding replaces the source and options; what was applied stays.

    Raises:
        ValueError: if `corpus` is not a valid name (`check_corpus_name`).
    """
    check_corpus_name(corpus)
    binding = {"corpus": corpus, "source": source_uri, "options": options}
    store.write_json(layout.watch_key(corpus), binding)
    return binding


def watched_corpora(store) -> dict[str, dict]:
    """Every watched corpus' binding (`watch_corpus`), by corpus name."""
    bindings = {}
    for info in store.list("corpora"):
        if info.key.endswith("/watch.json"):
            binding = store.read_json(info.key)
            bindings[binding["corpus"]] = binding
    return bindings


def applied_versions(store, corpus: str) -> dict[str, str]:
    """The document versions (ETags by id) the last run or refresh of `corpus` applied; {} when
    none was recorded."""
    key = layout.corpus_key(corpus)
    return store.read_json(key).get("versions", {}) if store.exists(key) else {}


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


def corpus_source(store, corpus: str) -> str | None:
    """The source URI of `corpus`: its watch binding's, else the one its last run recorded; None
    for the instance-wide corpus '' or a corpus never recorded."""
    if not corpus:
        return None
    for key in (layout.watch_key(corpus), layout.corpus_key(corpus)):
        if store.exists(key):
            return store.read_json(key)["source"]
    return None
