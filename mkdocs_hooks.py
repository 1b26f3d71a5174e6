"""MkDocs hooks of the documentation site (mkdocs.yml): the README is its home page."""

from pathlib import Path

from mkdocs.structure.files import File


def on_files(files, config):
    """Adds the repository's README as the site's `index.md`, its links into `docs/` made
    relative to the site (`docs/cli.md` → `cli.md`)."""
    readme = Path(config.config_file_path).parent / "README.md"
    text = readme.read_text(encoding="utf-8").replace("](docs/", "](")
    files.append(File.generated(config, "index.md", content=text))
    return files
