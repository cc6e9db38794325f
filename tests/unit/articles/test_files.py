"""Reading article files: empty, binary, oversized and non-UTF-8 files, and folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.articles.files import MAX_BYTES, ArticleFileError, decode, expand_paths, read_source


def test_utf8_with_or_without_bom() -> None:
    assert decode("Café".encode()) == ("Café", ())
    assert decode("\ufeffCafé".encode()) == ("Café", ())


def test_cp1252_is_read_and_said() -> None:
    text, notes = decode("Café – “quoted”".encode("cp1252"))
    assert text == "Café – “quoted”"
    assert notes and "read as Windows-1252" in notes[0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b" \n\t\r\n", "empty"),
        (b"PK\x03\x04\x00\x00binary", "binary"),
        (bytes(range(1, 32)) * 10, "binary"),
        (b"\x81\x8d\x8f\x90\x9d", "neither UTF-8 nor Windows-1252"),
    ],
)
def test_bad_content_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ArticleFileError, match=reason):
        decode(data)


def test_too_large_and_missing_files(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (MAX_BYTES + 1))
    with pytest.raises(ArticleFileError, match="the limit is 5 MB"):
        read_source(big)
    with pytest.raises(ArticleFileError, match="no such file"):
        read_source(tmp_path / "missing.txt")


def test_folders_expand_to_their_files_sorted_without_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / ".hidden").write_text("h")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.html").write_text("c")
    single = tmp_path / "a.txt"
    assert expand_paths([tmp_path, single]) == [
        tmp_path / "a.txt",
        tmp_path / "b.md",
        tmp_path / "sub" / "c.html",
    ]
