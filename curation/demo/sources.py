"""Real text that installs offline, read from unpacked Debian packages (scripts/fetch-demo-data unpacks them).

Each reader yields (id, text) pairs in a stable order. ``scripts/fetch-demo-data`` downloads
and unpacks the packages; nothing here touches the network.
"""

from __future__ import annotations

import gzip
import html.parser
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

DEBIAN_PACKAGES = (
    "fortunes",
    "dict-foldoc",
    "metamath-databases",
    "linux-doc-6.1",
    "python3.11-doc",
    "sqlite3-doc",
    "debian-handbook",
)


def fortunes(root: Path) -> Iterator[tuple[str, str]]:
    """Quotations and jokes of the fortune database: one fortune a document."""
    directory = root / "usr/share/games/fortunes"
    for file in sorted(p for p in directory.iterdir() if p.is_file() and "." not in p.name):
        text = file.read_text(encoding="utf-8", errors="replace")
        for number, fortune in enumerate(text.split("\n%\n")):
            if fortune.strip():
                yield f"{file.name}/{number}", fortune.strip("\n")


def foldoc(root: Path) -> Iterator[tuple[str, str]]:
    """The Free On-line Dictionary of Computing, one entry a document (dictd index + dictzip)."""
    directory = root / "usr/share/dictd"
    with gzip.open(directory / "foldoc.dict.dz") as handle:
        data = handle.read()
    seen = set()
    for line in (directory / "foldoc.index").read_text(encoding="utf-8").splitlines():
        headword, offset, length = line.split("\t")
        start, size = _dictd_number(offset), _dictd_number(length)
        if start in seen or headword.startswith("00database"):
            continue  # aliases point at an entry already taken
        seen.add(start)
        yield headword, data[start : start + size].decode("utf-8", errors="replace").strip()


def _dictd_number(encoded: str) -> int:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = 0
    for char in encoded:
        value = value * 64 + alphabet.index(char)
    return value


_THEOREM = re.compile(r"\$\(\s*((?:(?!\$\)).)*?)\s*\$\)\s*([\w.-]+)\s+\$p\s+(.*?)\s+\$=", re.S)


def metamath(root: Path) -> Iterator[tuple[str, str]]:
    """Theorems of set.mm (Metamath's set theory): the English comment and the formal statement."""
    text = (root / "usr/share/metamath/databases/set.mm").read_text(encoding="utf-8", errors="replace")
    for match in _THEOREM.finditer(text):
        comment, label, statement = match.groups()
        yield label, f"Theorem {label}. {' '.join(comment.split())}\n\n{' '.join(statement.split())}"


def linux_docs(root: Path) -> Iterator[tuple[str, str]]:
    """The Linux kernel's documentation (reStructuredText), one file a document."""
    directory = root / "usr/share/doc/linux-doc-6.1/Documentation"
    for file in sorted(directory.rglob("*.rst.gz")):
        yield str(file.relative_to(directory)).removesuffix(".rst.gz"), gzip.decompress(file.read_bytes()).decode("utf-8", errors="replace")


def python_docs(root: Path) -> Iterator[tuple[str, str]]:
    """The Python 3.11 documentation sources, one page a document."""
    directory = next((root / "usr/share/doc/python3.11").rglob("_sources"))
    for file in sorted(directory.rglob("*.rst.txt")):
        yield str(file.relative_to(directory)).removesuffix(".rst.txt"), file.read_text(encoding="utf-8", errors="replace")


def sqlite_site(root: Path) -> Iterator[tuple[str, str]]:
    """The sqlite.org web site as shipped by sqlite3-doc, tags stripped: web-like pages."""
    directory = root / "usr/share/doc/sqlite3"
    for file in sorted(directory.rglob("*.html")):
        text = html_to_text(file.read_text(encoding="utf-8", errors="replace"))
        if text:
            yield str(file.relative_to(directory)), text


def debian_handbook(root: Path) -> Iterator[tuple[str, str, str]]:
    """The Debian Administrator's Handbook in every shipped language: (id, text, language).
    Untranslated pages repeat the English text, which makes real duplicates across locales."""
    directory = root / "usr/share/doc/debian-handbook/html"
    for file in sorted(directory.rglob("*.html")):
        text = html_to_text(file.read_text(encoding="utf-8", errors="replace"))
        if text:
            locale = file.relative_to(directory).parts[0]
            yield str(file.relative_to(directory)), text, locale


def python_stdlib() -> Iterator[tuple[str, str]]:
    """The standard library of this interpreter: real Python code, one module a document."""
    directory = Path(sysconfig.get_paths()["stdlib"])
    for file in sorted(directory.rglob("*.py")):
        relative = file.relative_to(directory)
        if relative.parts[0] in ("site-packages", "dist-packages") or "test" in relative.parts[0]:
            continue
        yield str(relative), file.read_text(encoding="utf-8", errors="replace")


class _TextExtractor(html.parser.HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "section", "dt", "dd"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(page: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(page)
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
