"""What routes share: a database session per request and the client's address."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Path, Request
from sqlalchemy.orm import Session

from newsletter import member_mail
from newsletter.db import session_scope


def db_session(request: Request, background: BackgroundTasks) -> Iterator[Session]:
    """A session for this request; routes that write call commit() before they answer.

    Members' emails queued in it are handed to the workers after the response has gone."""
    with session_scope(request.app.state.settings.DATABASE_URL) as session:
        background.add_task(member_mail.release, member_mail.after_response(session))
        yield session


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# A database id in a URL: bounded, so an absurd number is a 404, not an integer overflow.
MAX_ID = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
