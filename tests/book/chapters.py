"""Reading the book's Markdown sources: fenced blocks, snippet includes and pycon examples."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CHAPTERS = sorted((DOCS / "chapters").glob("*.md"))
ALL_PAGES = sorted(DOCS.rglob("*.md"))

# A fenced block, possibly indented (inside an admonition or a collapsed solution).
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.S | re.M,
)
SNIPPET = re.compile(r'^-{1,}8<-{1,}\s+"(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"\s*$')
PYTHON_LANGS = {"python", "py", "python3"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    body: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        indent = match.group("indent")
        body = "\n".join(
            line[len(indent):] if line.startswith(indent) else line
            for line in match.group("body").splitlines()
        )
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(page, line, match.group("lang").lower(), body))
    return found


def section_text(path: str, section: str | None, root: Path = ROOT) -> str:
    """The lines between ``# --8<-- [start:section]`` and ``[end:section]`` of ``path``."""
    source = (root / path).read_text(encoding="utf-8").splitlines()
    if section is None:
        return "\n".join(source)
    start = [i for i, line in enumerate(source) if line.strip() == f"# --8<-- [start:{section}]"]
    end = [i for i, line in enumerate(source) if line.strip() == f"# --8<-- [end:{section}]"]
    if len(start) != 1 or len(end) != 1 or end[0] <= start[0]:
        raise LookupError(
            f"{path} must contain exactly one [start:{section}] marker followed by one "
            f"[end:{section}] marker; found {len(start)} start and {len(end)} end markers"
        )
    return "\n".join(source[start[0] + 1 : end[0]])


def snippet_includes(block: Block) -> list[tuple[str, str | None]]:
    """The (path, section) pairs a listing includes; raises if a line is not an include."""
    lines = [line.strip() for line in block.body.splitlines() if line.strip()]
    includes = []
    for line in lines:
        match = SNIPPET.match(line)
        if match is None:
            raise ValueError(f"{block.where()}: pasted Python listing line {line!r}")
        includes.append((match.group("path"), match.group("section")))
    return includes
