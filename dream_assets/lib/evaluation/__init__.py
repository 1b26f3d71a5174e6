"""Evaluation: one trial's two tiers, the Ray Tune sweep and the Optuna range search, metrics,
ragas scoring and judging, summaries, statistics and the leaderboard."""
