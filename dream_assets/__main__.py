"""`python -m dream_assets`: the `dream` command."""

from dream_assets.cli.app import main

main()
