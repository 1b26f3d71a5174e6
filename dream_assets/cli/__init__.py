"""The `dream` command: the one entry point of DREAM (`dream --help`). Its commands live in
`dream_assets.cli.app`, imported when the command runs, so that the Python API
(`dream_assets.api`) can use this package's helpers without loading Typer's application."""


def main() -> None:
    """Runs the `dream` command (the `dream` console script)."""
    from dream_assets.cli.app import main as dream

    dream()
