"""What a person follows from a leaderboard back to its documents: the corpus version it
describes, the documents added and removed since the corpus' previous leaderboard, and the runs
that made it (`record_leaderboard`)."""

from __future__ import annotations

from dream_assets import layout


def record_leaderboard(
    store, corpus: str, golden_version: str, corpus_version: str, document_ids: list[str], run_id: str, refresh_run: str
) -> dict:
    """Records `corpus`' leaderboard on `golden_version` as its last one
    (`corpora/<corpus>/leaderboard.json`, which a refresh reads tier 1 from) and in its history
    (`corpora/<corpus>/leaderboards/<corpus version>.json`, so each past leaderboard stays
    findable by the corpus version it describes). Returns the lineage for the
    materialisation's metadata: `corpus_version`, `previous_corpus_version` ('' for the first),
    `documents_added` and `documents_removed` since the previous leaderboard, `refresh_run` (the
    refresh that ran it, '' for `dream run` or the UI)."""
    key = layout.corpus_leaderboard_key(corpus)
    previous = store.read_json(key) if store.exists(key) else {}
    before, now = set(previous.get("documents", [])), set(document_ids)
    record = {
        "corpus": corpus,
        "corpus_version": corpus_version,
        "golden_version": golden_version,
        "documents": sorted(now),
        "dagster_run": run_id,
        "refresh_run": refresh_run,
    }
    store.write_json(key, record)
    store.write_json(f"corpora/{corpus}/leaderboards/{corpus_version}.json", record)
    return {
        "corpus_version": corpus_version,
        "previous_corpus_version": previous.get("corpus_version", ""),
        "documents_added": sorted(now - before) if previous else [],
        "documents_removed": sorted(before - now),
        "refresh_run": refresh_run,
    }
