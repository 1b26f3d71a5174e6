"""The README as a front door and the documentation site behind it (docs/, mkdocs.yml)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_starts_with_the_two_set_up_commands_and_stays_short():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    first_block = re.search(r"```bash\n(.*?)```", readme, re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):  # every page and picture it points to is there
        assert (ROOT / target).is_file(), target


def test_the_documentation_builds_with_strict_links(tmp_path):
    """`mkdocs build --strict`: a link to a missing page, picture or heading, or a page left out
    of the navigation, fails the build."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    built = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "make demo" in home and 'href="cli/"' in home  # the README, its docs/ links made the site's
    assert (tmp_path / "site" / "images" / "report-forest.png").is_file()
