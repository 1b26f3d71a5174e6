"""Jobs: one per stage, each partitioned like its assets so a run covers a partition range."""

from __future__ import annotations

import dagster as dg

ingest_job = dg.define_asset_job("ingest_job", selection=["source_pdfs", "parsed_documents"])
golden_job = dg.define_asset_job("golden_job", selection=["golden_dataset"])
index_job = dg.define_asset_job("index_job", selection=["embedding_index"])
sweep_job = dg.define_asset_job("sweep_job", selection=["trial_evaluations"])
leaderboard_job = dg.define_asset_job("leaderboard_job", selection=["experiment_leaderboard"])
