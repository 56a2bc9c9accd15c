"""Source files → documents: Markdown, plain text, HTML and JSONL records (one document per record).

A document's `source` is its path relative to the folder it was found in (or its file name), so the same
corpus mounted at another place yields the same knowledge-base version. Hidden files and folders are skipped
(a ConfigMap volume keeps its real files under `..data`). A file that cannot be read or parsed is reported as
an `UnreadableDocumentError` and contributes nothing; the other files are still read. A file found in a folder
that is a symbolic link to something outside that folder (e.g. `faq.md -> /etc/passwd`) is refused the same
way: a source folder can only contribute what is inside it. (ConfigMap volumes link within the folder.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt

from .errors import UnreadableDocumentError

MARKDOWN = frozenset({".md", ".markdown"})
TEXT = frozenset({".txt", ".text"})
HTML = frozenset({".html", ".htm"})
JSONL = frozenset({".jsonl"})
SUPPORTED = MARKDOWN | TEXT | HTML | JSONL
TEXT_FIELDS = ("text", "content", "body")
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre", "td", "th"}
)


@dataclass(frozen=True)
class Document:
    source: str
    text: str


def markdown_text(markdown: str) -> str:
    """The readable text of a Markdown document: one line per block, markup removed, code kept."""
    lines: list[str] = []
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "inline":
            parts = [
                c.content if c.type in ("text", "code_inline") else " "
                for c in token.children or []
                if c.type in ("text", "code_inline", "softbreak", "hardbreak")
            ]
            lines.append("".join(parts).strip())
        elif token.type in ("fence", "code_block"):
            lines.append(token.content.strip())
    return "\n".join(line for line in lines if line)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The visible text of an HTML page (scripts and styles dropped), one line per block element."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def jsonl_documents(source: str, content: str) -> list[Document]:
    """One document per record: text from `text`, `content` or `body`; source `<file>#<id or line>`."""
    out: list[Document] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnreadableDocumentError(source, f"line {number} is not JSON: {exc.msg}") from exc
        if not isinstance(record, dict):
            raise UnreadableDocumentError(source, f"line {number} is not a JSON object")
        text = next((record[f] for f in TEXT_FIELDS if isinstance(record.get(f), str)), None)
        if text is None:
            raise UnreadableDocumentError(source, f"line {number} has no string field {' / '.join(TEXT_FIELDS)}")
        key = record.get("id", number)
        out.append(Document(f"{source}#{key}", text))
    return out


def parse(source: str, suffix: str, content: str) -> list[Document]:
    """Documents in one file's content, chosen by its suffix. Pure."""
    if suffix in MARKDOWN:
        return [Document(source, markdown_text(content))]
    if suffix in HTML:
        return [Document(source, html_text(content))]
    if suffix in JSONL:
        return jsonl_documents(source, content)
    if suffix in TEXT:
        return [Document(source, content)]
    raise UnreadableDocumentError(source, f"unsupported file type {suffix or '(none)'}; use {sorted(SUPPORTED)}")


def discover(paths: Iterable[Path]) -> Iterator[tuple[str, Path, Path | None]]:
    """(source name, file, folder it was found in or None) for every file named or found (recursively,
    sorted) under a named folder."""
    for root in paths:
        if root.is_dir():
            for file in sorted(root.rglob("*")):
                rel = file.relative_to(root)
                if any(part.startswith(".") for part in rel.parts) or file.suffix.lower() not in SUPPORTED:
                    continue
                if file.is_file():
                    yield rel.as_posix(), file, root
        else:
            yield root.name, root, None


def read_file(source: str, file: Path, folder: Path | None = None) -> list[Document]:
    """The documents of one file; UnreadableDocumentError when it cannot be read or parsed, or when it was
    found in `folder` but resolves (through symbolic links) to a place outside it."""
    if folder is not None and not file.resolve().is_relative_to(folder.resolve()):
        raise UnreadableDocumentError(source, "a symbolic link leading outside the source folder; refused")
    try:
        content = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UnreadableDocumentError(source, "no such file") from exc
    except UnicodeDecodeError as exc:
        raise UnreadableDocumentError(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise UnreadableDocumentError(source, exc.strerror or str(exc)) from exc
    return parse(source, file.suffix.lower(), content)
