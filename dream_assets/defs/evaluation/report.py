"""What the leaderboard's report (`dream_assets.lib.evaluation.report`) reads from the object
store, and where it is kept: `experiment_leaderboard/<golden version>/report.html`, written by the
leaderboard asset and rebuilt on demand by `dream report`."""

from __future__ import annotations

import pandas as pd

from dream_assets import layout
from dream_assets.corpus import corpus_record
from dream_assets.defs.evaluation.trials import read_calibration
from dream_assets.defs.readers import read_golden_sizing
from dream_assets.lib.evaluation.leaderboard import ranked
from dream_assets.lib.evaluation.report import ReportInputs, render_report
from dream_assets.lib.golden.agreement import agreement_note, is_synthetic, read_agreement
from dream_assets.plugins.parsers import DEFAULT_PARSER, ParsedDocument

REPORT_NAME = "report.html"


def report_key(golden_version: str) -> str:
    """The stored report of golden set `golden_version`'s leaderboard."""
    return f"{layout.leaderboard_prefix(golden_version)}/{REPORT_NAME}"


def ranking_metric(table: pd.DataFrame) -> str:
    """The metric `table` was tiered by: the one with Holm-corrected p-values
    (`<metric>_p_holm`), else `mrr`."""
    holm = [str(column).removesuffix("_p_holm") for column in table.columns if str(column).endswith("_p_holm")]
    return holm[0] if holm else "mrr"


def document_outcomes(store, corpus: str, parsers: list[str]) -> list[dict]:
    """The parse outcome of each of `corpus`' documents by each of `parsers`: `parsed` (its
    language and length in characters) or `quarantined` (reason and detail), or `missing`
    when neither record exists. Corpus '' means every parsed or quarantined document."""
    if corpus:
        document_ids = sorted(corpus_record(store, corpus)["documents"])
    else:
        names = [info.key for folder in ("parsed_documents", "quarantine") for info in store.list(folder)]
        document_ids = sorted({name.rsplit("/", 1)[-1].removesuffix(".json") for name in names})
    outcomes = []
    for document_id in document_ids:
        for parser in parsers:
            row = {"document_id": document_id, "parser": parser, "outcome": "missing", "reason": "", "detail": ""}
            parsed_key, quarantined_key = (
                layout.parsed_document_key(document_id, parser),
                layout.quarantine_key(document_id, parser),
            )
            if store.exists(parsed_key):
                document = ParsedDocument.from_dict(store.read_json(parsed_key))
                row.update(outcome="parsed", language=document.language, characters=len(document.text))
            elif store.exists(quarantined_key):
                record = store.read_json(quarantined_key)
                row.update(outcome="quarantined", reason=record.get("reason", ""), detail=record.get("detail", ""))
            outcomes.append(row)
    return outcomes


def report_inputs(store, corpus: str, golden_version: str, table: pd.DataFrame, verdict: str) -> ReportInputs:
    """Reads what the report of `table` (the leaderboard of `golden_version` on `corpus`)
    shows: the per-question tables of the winner and of tier 1, the golden questions, the
    documents' parse outcomes, the judge's calibration and scores."""
    from dream_assets.defs.evaluation.leaderboard import judged

    rows = ranked(table)
    keys = rows[rows["tier"].eq(1)]["config_key"].tolist() if "tier" in rows else []
    keys = list(dict.fromkeys([*rows["config_key"].head(1), *keys]))
    trials = {key: store.read_parquet(layout.trial_key(golden_version, key)) for key in keys}
    parsers = sorted(set(table["parser"].dropna().astype(str))) if "parser" in table else [DEFAULT_PARSER]
    questions = store.read_parquet(f"{layout.golden_prefix(golden_version)}/questions.parquet")
    return ReportInputs(
        corpus=corpus,
        golden_version=golden_version,
        leaderboard=table,
        rank_by=ranking_metric(table),
        verdict=verdict,
        trials=trials,
        questions=questions,
        documents=document_outcomes(store, corpus, parsers or [DEFAULT_PARSER]),
        calibration=read_calibration(store, golden_version),
        judged=judged(table),
        agreement=agreement_note(read_agreement()) if is_synthetic(questions) else "",
        sizing=read_golden_sizing(store, golden_version).get("note", ""),
    )


def write_report(store, corpus: str, golden_version: str, table: pd.DataFrame, verdict: str) -> str:
    """Renders the report of `table` and stores it (`report_key`). Returns its HTML.

    Raises:
        ValueError: if the leaderboard ranks no configuration.
    """
    page = render_report(report_inputs(store, corpus, golden_version, table, verdict))
    store.write_bytes(report_key(golden_version), page.encode())
    return page
