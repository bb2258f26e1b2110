"""The documentation holds together: every relative link of the README and of docs/*.md points at a file
that exists, the README stays a short user's guide, and nothing users receive cites a document they do
not have (the project's private notes live outside the repository, in ../shared)."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 300

# [text](target) and ![alt](target); the target ends at the first space (an optional "title" follows) or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
EXTERNAL = ("http://", "https://", "mailto:")

# Private documents that users of the repository do not have.
PRIVATE = ("REFERENCE.md", "STYLE.md", "../shared/")
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".ini"}
TEXT_NAMES = {"Makefile"}
# Tests and CI may read ../shared's data (not cite its documents), so they are not checked.
UNCHECKED_FOLDERS = ("tests/", ".ci/")
# Exceptions, each with its reason: (path, private string).
ALLOWED: set[tuple[str, str]] = set()  # (path, private string) exceptions, each with its reason


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link and image outside fenced code blocks."""
    found, in_fence = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        # Inline code spans may hold text like [x](y) that is not a link.
        line = re.sub(r"`[^`]*`", "", line)
        found.extend((number, target) for target in LINK.findall(line))
    return found


def test_links_parse_the_forms_the_docs_use(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "[a](b.md) ![img](images/x.png) [c](d.md#part) [e](https://x.org) `[f](g.md)`\n"
        '```\n[h](i.md)\n```\n[j](<k l.md>) [m](n.md "title")\n',
        encoding="utf-8",
    )
    assert [target for _, target in links(page)] == ["b.md", "images/x.png", "d.md#part", "https://x.org", "n.md"]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_existing_files(path):
    missing = []
    for number, target in links(path):
        if target.startswith(EXTERNAL) or target.startswith("#"):
            continue
        file_part = target.split("#", 1)[0]
        if not (path.parent / file_part).exists():
            missing.append(f"{path.relative_to(ROOT)}:{number}: {target}")
    assert not missing, "links to files that do not exist:\n" + "\n".join(missing)


def test_readme_is_short():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines, at most {README_MAX_LINES}: move details into docs/"
    )


def tracked_text_files() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"git ls-files failed: {error}")
    return [
        name
        for name in listed.stdout.splitlines()
        if (Path(name).suffix in TEXT_SUFFIXES or Path(name).name in TEXT_NAMES)
        and not name.startswith(UNCHECKED_FOLDERS)
    ]


def test_no_file_cites_private_documents():
    found = []
    for name in tracked_text_files():
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for private in PRIVATE:
                if private in line and (name, private) not in ALLOWED:
                    found.append(f"{name}:{number}: {private}: {line.strip()[:100]}")
    assert not found, (
        "cite docs/recipe.md (or another file of the repository) instead of documents users "
        "do not have:\n" + "\n".join(found)
    )
