"""LLMs: settings and the LLM table, providers, the one gateway every request goes through
(cache, rate limit, retries, usage), answer generation, ragas' adapter, the install smoke check."""
