"""Quoted-printable skeletons: values of any length and alphabet, filled in without damage."""

from __future__ import annotations

import quopri

from hypothesis import given
from hypothesis import strategies as st

from newsletter.rendering.skeleton import Hole, build_body, encode_value, qp, with_soft_break

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)


def lines_fit(encoded: bytes) -> bool:
    return all(len(line) <= 76 for line in encoded.split(b"\r\n"))


@given(value=texts, part=st.sampled_from(["text", "html"]))
def test_an_encoded_value_decodes_to_itself_and_keeps_lines_short(value: str, part: str) -> None:
    encoded = encode_value(value, part)
    assert lines_fit(encoded)
    assert encoded.endswith(b"=\r\n")  # ends on a soft break: the next text starts a line
    decoded = quopri.decodestring(encoded.replace(b"\r\n", b"\n")).decode("utf-8")
    expected = one_line_ending(value)
    if part == "html":
        expected = expected.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        expected = expected.replace('"', "&quot;").replace("'", "&#x27;")
    assert decoded == expected


@given(prefix=st.text(alphabet="xé =", min_size=70, max_size=80))
def test_a_soft_break_never_cuts_an_escape(prefix: str) -> None:
    encoded = with_soft_break(qp(prefix))
    assert lines_fit(encoded)
    assert quopri.decodestring(encoded.replace(b"\r\n", b"\n")).decode("utf-8") == prefix


@given(before=texts, value=texts, after=texts)
def test_a_filled_skeleton_reads_as_the_text_with_the_value_in_place(
    before: str, value: str, after: str
) -> None:
    boundary = "=_b"  # like the real ones: "=_" cannot occur in quoted-printable
    skeleton = build_body(
        [before, "greeting", after + "\n"], ["<p>", "greeting", "</p>\n"], boundary
    )
    filled = skeleton.fill(
        {Hole("greeting", "text"): encode_value(value, "text"),
         Hole("greeting", "html"): encode_value(value, "html")}
    )  # fmt: skip
    assert lines_fit(filled)
    text_part = filled.split(b"\r\n\r\n", 2)[2].split(b"\r\n--=_b")[0]
    decoded = quopri.decodestring(text_part.replace(b"\r\n", b"\n")).decode("utf-8")
    assert decoded == one_line_ending(before + value + after + "\n")


def one_line_ending(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
