"""Sections → overlapping chunks of about ``size`` characters.

Text is cut at the coarsest boundary that makes pieces small enough (blank lines, then lines,
then sentences, then words, then anywhere), and pieces are packed back up to ``size`` with about
``overlap`` characters of the previous chunk repeated at the start of the next, so an answer that
straddles a cut is still whole in one chunk. Small neighbouring sections (CSV rows, JSON items,
short headings) share a chunk; the chunk keeps the first one's metadata and, where the last one's
differs, ``<key>_end`` (``{"row": 4, "row_end": 9}``).

Chunking is deterministic: the same text and settings give the same chunks at the same
positions, which is what lets an interrupted ingestion resume without duplicating any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.knowledge.parsing import Section

DEFAULT_SIZE = 1000
DEFAULT_OVERLAP = 150
MIN_SIZE, MAX_SIZE = 100, 8000
_SEPARATORS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", "")


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    size: int = DEFAULT_SIZE
    overlap: int = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"chunk size must be {MIN_SIZE}–{MAX_SIZE} characters")
        if not 0 <= self.overlap <= self.size // 2:
            raise ValueError("chunk overlap must be 0 to half the chunk size")


@dataclass(frozen=True, slots=True)
class Chunk:
    position: int  # 0, 1, 2, … within its document
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def chunk_sections(sections: list[Section], settings: ChunkSettings | None = None) -> list[Chunk]:
    settings = settings or ChunkSettings()
    pieces: list[tuple[str, dict[str, Any]]] = []
    for section in sections:
        text = section.text.strip()
        if not text:
            continue
        for piece in _split(text, settings.size, _SEPARATORS):
            pieces.append((piece, section.meta))
    return [
        Chunk(position, text, meta) for position, (text, meta) in enumerate(_pack(pieces, settings))
    ]


def _split(text: str, size: int, separators: tuple[str, ...]) -> list[str]:
    """``text`` cut into pieces of at most ``size`` characters at the coarsest boundary."""
    if len(text) <= size:
        return [text]
    separator, rest = separators[0], separators[1:]
    if separator == "":
        return [text[i : i + size] for i in range(0, len(text), size)]
    parts = text.split(separator)
    if len(parts) == 1:
        return _split(text, size, rest)
    pieces: list[str] = []
    for index, part in enumerate(parts):
        # The separator stays with the piece before it, so joining pieces gives the text back.
        whole = part + separator if index < len(parts) - 1 else part
        if len(whole) <= size:
            pieces.append(whole)
        else:
            pieces.extend(_split(whole, size, rest))
    return pieces


def _pack(
    pieces: list[tuple[str, dict[str, Any]]], settings: ChunkSettings
) -> list[tuple[str, dict[str, Any]]]:
    chunks: list[tuple[str, dict[str, Any]]] = []
    current: list[str] = []
    first_meta: dict[str, Any] | None = None
    last_meta: dict[str, Any] = {}
    length = 0

    def close() -> None:
        text = "".join(current).strip()
        if text:
            meta = dict(first_meta or {})
            for key, value in last_meta.items():
                if meta.get(key) != value and key in meta:
                    meta[f"{key}_end"] = value
            chunks.append((text, meta))

    for piece, meta in pieces:
        joiner = "" if not current or current[-1].endswith(("\n", " ")) else "\n"
        if current and length + len(joiner) + len(piece) > settings.size:
            close()
            tail = _tail("".join(current), settings.overlap)
            current = [tail] if tail and len(tail) + len(piece) <= settings.size else []
            length = len(current[0]) if current else 0
            first_meta = last_meta if current else meta
            joiner = "" if not current or current[-1].endswith(("\n", " ")) else "\n"
        if not current:
            first_meta = meta
        current.append(joiner + piece if current else piece)
        length += len(joiner) + len(piece)
        last_meta = meta
    if current:
        close()
    return chunks


def _tail(text: str, overlap: int) -> str:
    """About the last ``overlap`` characters of ``text``, starting at a word."""
    if overlap <= 0 or len(text) <= overlap:
        return "" if overlap <= 0 else text
    tail = text[-overlap:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < len(tail) - 1 else tail
