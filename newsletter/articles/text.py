"""Plain-text helpers shared by the importers and the date finder: spaces and sentences."""

from __future__ import annotations

import re

# Non-breaking and other Unicode spaces: page captures are full of them.
_SPACES = re.compile(r"[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*(?=\s+[\"'“‘(£$]?[A-Z0-9])")


def clean_line(line: str) -> str:
    """One line with every run of spaces (of any kind) made one plain space, ends trimmed."""
    return _SPACES.sub(" ", line).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences, never crossing a line break (a paragraph or list item ends a sentence)."""
    sentences = []
    for line in text.splitlines():
        line = clean_line(line)
        start = 0
        for match in _SENTENCE_END.finditer(line):
            sentences.append(line[start : match.end()])
            start = match.end() + 1  # the one space after it (lines are already cleaned)
        if line[start:]:
            sentences.append(line[start:])
    return sentences


def word_count(text: str) -> int:
    return len(text.split())
