"""The member's "I've read this" page for an urgent notice: a GET shows the button (mail
scanners fetch every link), its POST records the acknowledgement (newsletter.acknowledgements).
A link that cannot be used is a 400 page saying why."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter import acknowledgements
from newsletter.web.deps import db_session
from newsletter.web.link_buttons import button_pressed
from newsletter.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/acknowledge/{token}", response_class=HTMLResponse)
def acknowledge_page(
    token: str, request: Request, session: Session = Depends(db_session)
) -> Response:
    """Only shows the notice and a button."""
    found = _checked(acknowledgements.landing, session, token, request)
    return render(request, "public/acknowledge.html", {"found": found})


@router.post("/acknowledge/{token}", response_class=HTMLResponse)
async def acknowledge(
    token: str, request: Request, session: Session = Depends(db_session)
) -> Response:
    """The button's POST; a POST without the form's field only shows the button again."""
    return await button_pressed(request, token, session, acknowledge_page, _acknowledged)


def _acknowledged(token: str, request: Request, session: Session) -> Response:
    found = _checked(acknowledgements.acknowledge, session, token, request)
    session.commit()
    return render(request, "public/acknowledged.html", {"found": found})


def _checked(
    step: acknowledgements.LinkStep, session: Session, token: str, request: Request
) -> acknowledgements.Landing:
    try:
        return step(session, token, request.app.state.settings)
    except acknowledgements.AckLinkError as exc:
        raise HTTPException(400, str(exc)) from None
