"""Signed links whose page only shows a button: the GET shows it (mail scanners fetch every
link), the button's POST acts. Shared by confirmation, change of address and acknowledgement.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from newsletter.web import forms
from newsletter.web.auth import read_form, refuse_other_sites

Page = Callable[[str, Request, Session], Response]  # a link's page: (token, request, session)


async def button_pressed(
    request: Request, token: str, session: Session, page: Page, act: Page
) -> Response:
    """A link's button was pressed: `act`, unless the POST lacks the form's field (an
    automated POST to every link), which only shows the `page` with the button again.

    No CSRF token: nothing but the signed token in the address grants anything, and a page
    elsewhere cannot know it; a POST from another site is refused all the same."""
    refuse_other_sites(request)
    form = await read_form(request)
    pressed = forms.text(form, "confirm", 10) == "yes"
    return await run_in_threadpool(act if pressed else page, token, request, session)
