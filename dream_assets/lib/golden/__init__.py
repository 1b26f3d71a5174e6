"""Golden sets: human questions (SQuAD layout) aligned to the parsed text, synthetic ones from
ragas over Ray tasks, and the held-out split."""
