"""Plug-ins: the registry of DREAM's pluggable roles and every role's contract, in one place.

A plug-in subclasses (or, for metrics, instantiates) the contract of its role and is named by
registry name, entry point or import path (see `dream_assets.plugins.registry`)."""
