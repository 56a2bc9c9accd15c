"""Source files become documents; unreadable ones are reported, never half-read."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail_kb.errors import UnreadableDocumentError
from guardrail_kb.ingest import read_all
from guardrail_kb.readers import html_text, markdown_text, parse


def test_markdown_keeps_text_and_code_drops_markup() -> None:
    text = markdown_text("# Returns\n\nItems can be **returned** within\n60 days.\n\n```\nreturn --id 7\n```\n")
    assert text.splitlines() == ["Returns", "Items can be returned within 60 days.", "return --id 7"]


def test_html_keeps_visible_text_only() -> None:
    text = html_text("<head><title>t</title></head><p>Open 9 to 5.</p><script>evil()</script><li>Closed Sundays</li>")
    assert text.splitlines() == ["Open 9 to 5.", "Closed Sundays"]


def test_jsonl_gives_one_document_per_record() -> None:
    docs = parse("faq.jsonl", ".jsonl", '{"id": "pay", "text": "We take cards."}\n\n{"content": "No cash."}\n')
    assert [(d.source, d.text) for d in docs] == [("faq.jsonl#pay", "We take cards."), ("faq.jsonl#3", "No cash.")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [('{"text": "ok"}\n{broken', "line 2 is not JSON"), ('["a list"]', "not a JSON object"), ('{"x": 1}', "no string")],
)
def test_a_bad_jsonl_record_rejects_the_whole_file(content: str, reason: str) -> None:
    with pytest.raises(UnreadableDocumentError, match=reason):
        parse("faq.jsonl", ".jsonl", content)


def test_unreadable_files_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("Shipping is free.")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 hours".encode("latin-1"))
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")  # not a supported type: not picked up from a folder
    (tmp_path / ".hidden.md").write_text("secret")
    (tmp_path / "..data").mkdir()
    (tmp_path / "..data" / "copy.md").write_text("ConfigMap internals")
    documents, errors = read_all([tmp_path, tmp_path / "missing.md"])
    assert [d.source for d in documents] == ["good.md"]
    assert len(errors) == 2
    assert "latin1.txt" in errors[0]
    assert "not UTF-8" in errors[0]
    assert "missing.md" in errors[1]
    assert "no such file" in errors[1]


def test_the_same_source_twice_is_an_error(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "faq.md").write_text(f"From {folder}.")
    documents, errors = read_all([tmp_path / "a", tmp_path / "b"])
    assert [d.text for d in documents] == ["From a."]
    assert "already read" in errors[0]


def test_a_symlink_leaving_the_source_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    (folder / "nested").mkdir(parents=True)
    (folder / "faq.md").write_text("Shipping is free.")
    (folder / "passwd.txt").symlink_to("/etc/passwd")
    (tmp_path / "outside.md").write_text("Not part of the knowledge base.")
    (folder / "nested" / "escape.md").symlink_to("../../outside.md")
    documents, errors = read_all([folder])
    assert [d.source for d in documents] == ["faq.md"]
    assert all("root:" not in d.text for d in documents)
    assert sorted(e.split(":")[0] for e in errors) == ["nested/escape.md", "passwd.txt"]
    assert all("outside the source folder" in e for e in errors)


def test_links_inside_the_folder_are_read_as_a_configmap_volume_lays_them_out(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    (folder / "..2026_12_06").mkdir(parents=True)
    (folder / "..2026_12_06" / "faq.md").write_text("Returns take 60 days.")
    (folder / "..data").symlink_to("..2026_12_06")
    (folder / "faq.md").symlink_to("..data/faq.md")
    documents, errors = read_all([folder])
    assert [(d.source, d.text) for d in documents] == [("faq.md", "Returns take 60 days.")]
    assert errors == []
