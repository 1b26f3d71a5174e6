"""The `dream` command: the one entry point of DREAM (`dream --help`)."""

from dream_assets.cli.app import app, main

__all__ = ["app", "main"]
