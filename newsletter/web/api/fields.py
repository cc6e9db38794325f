"""The API's input fields: text the database will store (bounded, no NUL characters, valid
Unicode), so no request reaches the database with a value it would refuse."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

NO_NUL = r"^[^\x00]*$"


def _unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _text(max_length: int, min_length: int = 0) -> Any:
    return Field(min_length=min_length, max_length=max_length, pattern=NO_NUL)


# Text the database will store: bounded, no NUL characters, valid Unicode.
ArticleText = Annotated[str, _text(5_000_000, 1), AfterValidator(_unicode)]
FileName = Annotated[str, _text(300), AfterValidator(_unicode)]
Source = Annotated[str, _text(1000), AfterValidator(_unicode)]
Email = Annotated[str, _text(320, 3), AfterValidator(_unicode)]
Name = Annotated[str, _text(200), AfterValidator(_unicode)]
Role = Annotated[str, _text(100), AfterValidator(_unicode)]
Subject = Annotated[str, _text(500, 1), AfterValidator(_unicode)]
Markdown = Annotated[str, _text(200_000, 1), AfterValidator(_unicode)]
Slug = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9-]*$")]
ConsentText = Annotated[str, _text(300), AfterValidator(_unicode)]
