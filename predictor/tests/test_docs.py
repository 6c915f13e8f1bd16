"""The README is a front door and the manual a MkDocs site (docs/, mkdocs.yml): the README
stays short and names the two commands, every relative link resolves to a file, and every
page of the site's nav exists (and every page is in it)."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DOC_PAGES = sorted(DOCS.glob("*.md"))
README_MAX_LINES = 200

FENCED = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# [text](target "title") and ![alt](target); [label]: target (reference definitions).
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
EXTERNAL = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)


def link_targets(markdown: str) -> list[str]:
    """Every link and image target outside code blocks and code spans."""
    text = CODE_SPAN.sub("", FENCED.sub("", markdown))
    return INLINE_LINK.findall(text) + REFERENCE.findall(text)


def unresolved_links(page: Path) -> list[str]:
    """Relative targets of `page` that name no existing file (anchors stripped)."""
    missing = []
    for target in link_targets(page.read_text()):
        if EXTERNAL.match(target):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not path:
            continue  # an anchor in the page itself
        if not (page.parent / path).exists():
            missing.append(target)
    return missing


def nav_pages(nav) -> list[str]:
    """The page paths of a MkDocs nav, however deeply its sections nest."""
    if isinstance(nav, str):
        return [] if EXTERNAL.match(nav) else [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return []


def mkdocs_config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_readme_is_a_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    text = "\n".join(lines)
    assert "make run" in text and "make test" in text
    assert "make docs" in text


def test_link_extraction_skips_code_and_external_links():
    markdown = (
        "[a](docs/a.md#x) ![b](img/b.png) [c](https://example.org) [d](mailto:x@y.z)\n"
        "`[e](not-a-link.md)`\n```\n[f](in-a-block.md)\n```\n[g]: ref/target.md\n"
    )
    assert link_targets(markdown) == [
        "docs/a.md#x",
        "img/b.png",
        "https://example.org",
        "mailto:x@y.z",
        "ref/target.md",
    ]


@pytest.mark.parametrize("page", [README, *DOC_PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert link_targets(page.read_text()), f"{page.name} links nowhere"
    assert unresolved_links(page) == []


def test_docs_pages_stay_inside_the_site():
    """A site page links other pages and images of docs/ only (and absolute URLs): a link out
    of docs/ resolves on GitHub but not on the built site."""
    for page in DOC_PAGES:
        for target in link_targets(page.read_text()):
            if EXTERNAL.match(target):
                continue
            path = target.split("#", 1)[0]
            if path:
                assert (page.parent / path).resolve().is_relative_to(DOCS), (page.name, target)


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    config = mkdocs_config()
    docs_dir = ROOT / config.get("docs_dir", "docs")
    pages = nav_pages(config["nav"])
    assert pages and pages[0] == "index.md"
    missing = [page for page in pages if not (docs_dir / page).is_file()]
    assert missing == []
    assert sorted(pages) == sorted(p.name for p in docs_dir.glob("*.md"))
