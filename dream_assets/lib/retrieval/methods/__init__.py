"""Retrieval methods: how documents become indexed nodes and how retrieved nodes become
contexts. One registered class per method (`dream_assets.plugins.registry.METHODS`); a new one
subclasses `RetrievalMethodBase` and is named in the search space by its registered name, its
entry point (`dream.methods`) or its import path."""
