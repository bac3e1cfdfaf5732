"""The documentation stands on its own: every relative link in every tracked Markdown file
leads to a file of the repository (and a #fragment to one of its headings), and no page
points outside the repository to the team's own notes."""
from __future__ import annotations

import re
import subprocess
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: [text](target) and ![alt](target), and <img src="target">; code spans are skipped.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img[^>]+src=\"([^\"]+)\"")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")


def markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.md"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def links(text: str) -> list[str]:
    prose = CODE.sub("", FENCE.sub("", text))
    return [a or b for a, b in LINK.findall(prose)]


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", title)))
    return found


def test_the_link_finder_finds_links_and_skips_code():
    text = "See [a](docs/a.md), ![i](x.png \"t\") and <img src=\"y.png\">; `[no](z.md)`\n```\n[no](w.md)\n```\n"
    assert links(text) == ["docs/a.md", "x.png", "y.png"]


def test_there_is_markdown_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert {"README.md", "docs/architecture.md", "docs/metrics.md", "docs/cli.md", "docs/deploy.md"} <= names


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_to_a_file_in_the_repository(path):
    broken = []
    for target in links(path.read_text(encoding="utf-8")):
        parsed = urllib.parse.urlparse(target)
        if parsed.scheme or target.startswith("//") or target.startswith("mailto:"):
            continue        # an address on the web, not a file of the repository
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / urllib.parse.unquote(file_part)).resolve() if file_part else path
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(target)
    assert broken == [], f"{path.relative_to(ROOT)}: links that lead nowhere: {broken}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_markdown_mentions_the_team_folder_outside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text
    assert not re.search(r"\bSPEC\.md\b|\bDESIGN\.md\b", text)
