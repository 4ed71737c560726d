"""Files of every kind become text in sections; what cannot is refused, saying why."""

from __future__ import annotations

import json
import random

import pytest

from runtime.knowledge.errors import DocumentError
from runtime.knowledge.parsing import parse
from tests.knowledge.documents import pdf


def test_it_reads_a_pdf_page_by_page() -> None:
    parsed = parse(pdf(["Tidal power uses the sea.", "Second page: turbines."]), "tides.pdf")
    assert parsed.kind == "pdf"
    assert [s.meta for s in parsed.sections] == [{"page": 1}, {"page": 2}]
    assert "Tidal power uses the sea." in parsed.sections[0].text
    assert "turbines" in parsed.sections[1].text


def test_it_refuses_a_corrupt_pdf() -> None:
    broken = pdf(["Hello"])[:120]  # cut off in the middle of its objects
    with pytest.raises(DocumentError) as caught:
        parse(broken, "broken.pdf")
    assert caught.value.code in ("corrupt_pdf", "no_text")
    assert "broken.pdf" in str(caught.value)


def test_it_refuses_garbage_named_pdf() -> None:
    with pytest.raises(DocumentError) as caught:
        parse(b"%PDF-1.7\n this is not a pdf at all", "fake.pdf")
    assert caught.value.code in ("corrupt_pdf", "no_text")


def test_markdown_sections_follow_headings() -> None:
    text = "# Setup\nInstall it.\n\n## Use\nRun it.\n```\n# not a heading\n```\n"
    parsed = parse(text.encode(), "guide.md")
    assert parsed.kind == "markdown"
    assert parsed.title == "Setup"
    assert [s.meta.get("heading") for s in parsed.sections] == ["Setup", "Use"]
    assert "# not a heading" in parsed.sections[1].text


def test_html_gives_visible_text_only() -> None:
    page = (
        "<html><head><title>Tides</title><style>p{color:red}</style></head><body>"
        "<script>alert('x')</script><h1>Energy</h1><p>Tidal &amp; wave power.</p></body></html>"
    )
    parsed = parse(page.encode(), "page.html")
    text = " ".join(s.text for s in parsed.sections)
    assert parsed.title == "Tides"
    assert "Tidal & wave power." in text
    assert "alert" not in text and "color" not in text
    assert parsed.sections[-1].meta == {"heading": "Energy"}


def test_csv_rows_keep_their_column_names() -> None:
    parsed = parse(b"name,city\nAda,London\nGrace,Arlington\n", "people.csv")
    assert [s.text for s in parsed.sections] == [
        "name: Ada\ncity: London",
        "name: Grace\ncity: Arlington",
    ]
    assert [s.meta for s in parsed.sections] == [{"row": 2}, {"row": 3}]


def test_json_list_items_and_json_lines() -> None:
    items = [{"q": "What is RRF?", "a": {"short": "rank fusion"}}, {"q": "k?", "a": 60}]
    parsed = parse(json.dumps(items).encode(), "faq.json")
    assert parsed.sections[0].text == "q: What is RRF?\na.short: rank fusion"
    assert parsed.sections[1].meta == {"item": 1}
    lines = "\n".join(json.dumps(item) for item in items).encode()
    assert [s.text for s in parse(lines, "faq.jsonl").sections] == [s.text for s in parsed.sections]


def test_it_refuses_json_that_does_not_parse() -> None:
    with pytest.raises(DocumentError) as caught:
        parse(b'{"a": ', "bad.json")
    assert caught.value.code == "invalid_json"


@pytest.mark.parametrize("data", [b"", b"   \n\t  "])
def test_it_refuses_an_empty_file(data: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        parse(data, "empty.txt")
    assert caught.value.code == "empty_document"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        b"PK\x03\x04" + b"x" * 100,
        b"text\x00with\x00nul\x00bytes",
        bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 50 + b"abc",
    ],
)
def test_it_refuses_a_binary_posing_as_text(data: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        parse(data, "notes.txt")
    assert caught.value.code == "binary_content"


def test_it_reads_other_encodings_and_refuses_noise() -> None:
    text = "日本語のテキストです。これはテストの文書です。東京は日本の首都です。" * 3
    assert text in parse(text.encode("shift_jis"), "jp.txt").sections[0].text
    russian = "Всем привет, это тестовый документ на русском языке. Москва — столица России."
    assert parse(russian.encode("cp1251"), "ru.txt").sections[0].text == russian
    assert parse("Grüße".encode("utf-16"), "de.txt").sections[0].text == "Grüße"
    latin = "Crème brûlée à la française, s'il vous plaît."
    assert parse(latin.encode("cp1252"), "fr.txt", encoding="cp1252").sections[0].text == latin

    noise = bytes(random.Random(1).choice(range(0x80, 0x100)) for _ in range(2000))
    with pytest.raises(DocumentError) as caught:
        parse(noise, "mystery.txt")
    assert caught.value.code == "unknown_encoding"
    assert "encoding=" in str(caught.value)  # says how to name it


def test_a_named_encoding_that_does_not_fit_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        parse("日本".encode(), "x.txt", encoding="ascii")
    assert caught.value.code == "unknown_encoding"
    with pytest.raises(DocumentError):
        parse(b"abc", "x.txt", encoding="no-such-codec")
