"""A file's bytes → the text of a document, in sections that keep where they came from.

Kinds: ``text``, ``markdown`` (sections by heading), ``html`` (visible text, sections by
heading), ``pdf`` (pypdf; one section per page), ``csv`` (one section per row, "column: value"
lines) and ``json`` (one section per item of a top-level list or JSON Lines, else the whole
value, as "path: value" lines). The kind comes from the file name or content type, else from a
look at the bytes.

Whatever cannot become text is refused with a :class:`DocumentError` naming why: an empty file,
a binary file posing as text, an encoding that cannot be told (say which with ``encoding``), a
corrupt or encrypted PDF, a PDF with no text layer, JSON or CSV that does not parse.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from runtime.knowledge.errors import DocumentError

KINDS = ("text", "markdown", "html", "pdf", "csv", "json")
_EXTENSIONS = {
    "txt": "text",
    "text": "text",
    "log": "text",
    "rst": "text",
    "md": "markdown",
    "markdown": "markdown",
    "html": "html",
    "htm": "html",
    "pdf": "pdf",
    "csv": "csv",
    "tsv": "csv",
    "json": "json",
    "jsonl": "json",
    "ndjson": "json",
}
_CONTENT_TYPES = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "json",
    "application/x-ndjson": "json",
}
# File signatures of common binary formats: such a file named .txt is refused by name.
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a ZIP archive (or an Office file)",
    b"\x7fELF": "an executable",
    b"\x1f\x8b": "a gzip archive",
    b"MZ": "a Windows executable",
    b"SQLite format 3": "an SQLite database",
}
_SNIFF_BYTES = 8192
# Past this share of control characters in a sample, text is taken for binary.
_MAX_CONTROL_SHARE = 0.05
# charset-normalizer's share of "mess" in its best reading past which we refuse to guess.
_MAX_CHAOS = 0.1
# ... and the least it must be sure of the language it read there.
_MIN_COHERENCE = 0.15


@dataclass(frozen=True, slots=True)
class Section:
    text: str
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"page": 3} or {"heading": "Setup"}


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    kind: str
    sections: list[Section]
    title: str = ""

    @property
    def characters(self) -> int:
        return sum(len(section.text) for section in self.sections)


def detect_kind(filename: str, content_type: str | None, data: bytes) -> str:
    """The document's kind from its name, else its content type, else its first bytes."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    base_type = (content_type or "").split(";")[0].strip().lower()
    if base_type in _CONTENT_TYPES:
        return _CONTENT_TYPES[base_type]
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[:1] in (b"{", b"["):
        return "json"
    if head[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "html"
    return "text"


def parse(
    data: bytes, filename: str, content_type: str | None = None, encoding: str | None = None
) -> ParsedDocument:
    """The document's sections; :class:`DocumentError` when it has no text to give."""
    if not data.strip():
        raise DocumentError("empty_document", f"{filename} is empty")
    kind = detect_kind(filename, content_type, data)
    if kind == "pdf":
        parsed = _parse_pdf(data, filename)
    else:
        text = decode(data, filename, encoding)
        parsed = _PARSERS[kind](text, filename)
    sections = [s for s in parsed.sections if s.text.strip()]
    if not sections:
        raise DocumentError("no_text", f"{filename} holds no text once parsed as {kind}")
    return ParsedDocument(parsed.kind, sections, parsed.title)


# -- bytes → str -----------------------------------------------------------------------------------


def decode(data: bytes, filename: str, encoding: str | None = None) -> str:
    """UTF-8 (with or without BOM), UTF-16/32 with a BOM, a named encoding, or a detected one;
    never a guess that reads as noise."""
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise DocumentError("binary_content", f"{filename} is {what}, not text")
    if encoding:
        try:
            return _checked(data.decode(encoding), filename)
        except LookupError:
            raise DocumentError("unknown_encoding", f"{encoding!r} is not an encoding") from None
        except UnicodeDecodeError as exc:
            raise DocumentError(
                "unknown_encoding", f"{filename} is not valid {encoding}: {exc.reason}"
            ) from None
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return _checked(data.decode(codec), filename)
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise DocumentError("binary_content", f"{filename} holds NUL bytes: it is binary, not text")
    try:
        return _checked(data.decode("utf-8"), filename)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # A guess is taken only when the detector also recognised a language in it: bytes that
    # merely decode (nearly anything decodes as some CJK code page) are not text we can trust.
    best = from_bytes(data[: 1024 * 1024]).best()
    if best is not None and best.chaos <= _MAX_CHAOS and best.coherence >= _MIN_COHERENCE:
        with contextlib.suppress(UnicodeDecodeError, LookupError):
            return _checked(data.decode(best.encoding), filename)
    raise DocumentError(
        "unknown_encoding",
        f"{filename} is not UTF-8 and its encoding cannot be told; upload it again naming "
        "its encoding (e.g. encoding=cp1252 or shift_jis)",
    )


def _checked(text: str, filename: str) -> str:
    sample = text[:_SNIFF_BYTES]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    if sample and control / len(sample) > _MAX_CONTROL_SHARE:
        raise DocumentError(
            "binary_content", f"{filename} is mostly control characters: it is binary, not text"
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- one parser per kind ---------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _parse_text(text: str, filename: str) -> ParsedDocument:
    return ParsedDocument("text", [Section(text)])


def _parse_markdown(text: str, filename: str) -> ParsedDocument:
    sections: list[Section] = []
    heading, title = "", ""
    lines: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            if lines:
                sections.append(_section("\n".join(lines), heading))
            heading, lines = match.group(2), [line]
            title = title or heading
        else:
            lines.append(line)
    if lines:
        sections.append(_section("\n".join(lines), heading))
    return ParsedDocument("markdown", sections, title)


def _section(text: str, heading: str) -> Section:
    return Section(text, {"heading": heading} if heading else {})


class _HTMLText(HTMLParser):
    """Visible text of a page: no script, style or head; headings start sections."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "section", "article", "pre", "blockquote", "table", "ul"}
    )
    _HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self.title = ""
        self._parts: list[str] = []
        self._heading: str = ""
        self._skip = 0
        self._in_title = False
        self._in_heading = False
        self._heading_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._HEADINGS:
            self._flush()
            self._in_heading, self._heading_parts = True, []
        elif tag in self._BLOCK:
            self._parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._HEADINGS and self._in_heading:
            self._in_heading = False
            self._heading = " ".join("".join(self._heading_parts).split())
            self._parts.append(self._heading + "\n")
        elif tag in self._BLOCK:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
        if self._skip:
            return
        if self._in_heading:
            self._heading_parts.append(data)
        else:
            self._parts.append(data)

    def _flush(self) -> None:
        text = re.sub(r"[ \t]+", " ", "".join(self._parts))
        text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
        if text:
            self.sections.append(_section(text, self._heading))
        self._parts = []

    def close(self) -> None:
        super().close()
        self._flush()


def _parse_html(text: str, filename: str) -> ParsedDocument:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return ParsedDocument("html", parser.sections, parser.title)


def _parse_pdf(data: bytes, filename: str) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(
                "corrupt_pdf", f"{filename} is an encrypted PDF; upload it unlocked"
            )
        sections = [
            Section(page.extract_text() or "", {"page": number})
            for number, page in enumerate(reader.pages, 1)
        ]
        metadata = reader.metadata
        title = str(metadata.get("/Title") or "") if metadata else ""
    except DocumentError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DocumentError(
            "corrupt_pdf", f"{filename} is not a readable PDF: {type(exc).__name__}: {exc}"
        ) from None
    if not any(section.text.strip() for section in sections):
        raise DocumentError(
            "no_text",
            f"{filename} has {len(sections)} page(s) but no text layer (a scan?); "
            "no text could be taken from it",
        )
    return ParsedDocument("pdf", sections, title)


def _parse_csv(text: str, filename: str) -> ParsedDocument:
    sample = text[:_SNIFF_BYTES]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if filename.lower().endswith(".tsv") else csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise DocumentError("invalid_csv", f"{filename} is not valid CSV: {exc}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return ParsedDocument("csv", [])
    header, body = rows[0], rows[1:]
    if not body:  # a single row: no header to name the values
        return ParsedDocument("csv", [Section(", ".join(header), {"row": 1})])
    sections = []
    for number, row in enumerate(body, 2):
        names = header + [f"column {i + 1}" for i in range(len(header), len(row))]
        lines = [f"{name}: {value}" for name, value in zip(names, row, strict=False) if value]
        sections.append(Section("\n".join(lines), {"row": number}))
    return ParsedDocument("csv", sections)


def _parse_json(text: str, filename: str) -> ParsedDocument:
    stripped = text.strip()
    try:
        value: Any = json.loads(stripped)
        items = value if isinstance(value, list) else None
    except json.JSONDecodeError as exc:
        lines = [line for line in stripped.split("\n") if line.strip()]
        try:  # JSON Lines
            items = [json.loads(line) for line in lines] if len(lines) > 1 else None
        except json.JSONDecodeError:
            items = None
        if items is None:
            raise DocumentError(
                "invalid_json", f"{filename} is not valid JSON: {exc.msg} at line {exc.lineno}"
            ) from None
        value = items
    if items is None:
        return ParsedDocument("json", [Section("\n".join(_flatten(value, "")))])
    return ParsedDocument(
        "json",
        [Section("\n".join(_flatten(item, "")), {"item": i}) for i, item in enumerate(items)],
    )


def _flatten(value: Any, path: str) -> list[str]:
    """ "path: value" lines of a JSON value, so every leaf keeps the names that explain it."""
    if isinstance(value, dict):
        return [
            line for k, v in value.items() for line in _flatten(v, f"{path}.{k}" if path else k)
        ]
    if isinstance(value, list):
        return [line for i, v in enumerate(value) for line in _flatten(v, f"{path}[{i}]")]
    if value is None:
        return []
    shown = value if isinstance(value, str) else json.dumps(value)
    return [f"{path}: {shown}" if path else str(shown)]


_PARSERS = {
    "text": _parse_text,
    "markdown": _parse_markdown,
    "html": _parse_html,
    "csv": _parse_csv,
    "json": _parse_json,
}
