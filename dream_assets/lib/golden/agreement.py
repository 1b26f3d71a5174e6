"""How far a synthetic golden set's verdict can be trusted: the agreement between the ranking
of configurations on synthetic questions and on human ones, measured by
`benchmarks/bench_synthetic.py` on the bundled corpus and shipped in
`config/synthetic_agreement.json` (one record per generating LLM), which a leaderboard of
synthetic questions quotes as a leaderboard judged by an LLM quotes the judge's calibration."""

from __future__ import annotations

import json

from dream_assets.package_data import config_file

AGREEMENT_FILE = config_file("synthetic_agreement.json")


def is_synthetic(questions) -> bool:
    """Whether a golden set's questions (a DataFrame with `golden_source`) hold synthetic ones:
    the leaderboards whose verdict quotes the measured agreement."""
    return "synthetic" in set(questions.get("golden_source", []))


def read_agreement(path=AGREEMENT_FILE) -> dict[str, dict]:
    """The measured agreements by generating LLM ({} when none was measured)."""
    return json.loads(path.read_text()) if path.exists() else {}


def agreement_note(agreements: dict[str, dict]) -> str:
    """One sentence per measured generator: Kendall's tau between the synthetic and the human
    ranking, over how many configurations, whether the synthetic winner fell in the human
    tier 1, how many configurations each tier 1 held when measured, and the source and date;
    '' when nothing was measured."""
    notes = []
    for llm, record in sorted(agreements.items()):
        inside = "inside" if record.get("synthetic_winner_in_human_tier_1") else "outside"
        size = f"{record['synthetic_questions']} " if "synthetic_questions" in record else ""
        tiers = (
            f"; on {size}synthetic questions tier 1 held {record['tier_1_synthetic']} configurations, on the human"
            f" ones {record['tier_1_human']}"
            if "tier_1_synthetic" in record and "tier_1_human" in record
            else ""
        )
        notes.append(
            f"Synthetic questions by {llm} ranked {record['configurations']} configurations of the bundled corpus"
            f" as its human SQuAD questions did at Kendall tau {record['kendall_tau']:.2f}; their winner was"
            f" {inside} the human tier 1{tiers} ({record['source']}, {record['date']})."
        )
    return " ".join(notes)
