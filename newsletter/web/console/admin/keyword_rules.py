"""Admin: each topic's keyword rules, which suggest topics for imported articles."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from newsletter import topic_rules
from newsletter.topics import SLUG_PATTERN
from newsletter.web import forms
from newsletter.web.auth import ADMIN_ONLY, actor, read_form, signed_in
from newsletter.web.deps import Id, db_session
from newsletter.web.templating import render

router = APIRouter(prefix="/staff/admin", include_in_schema=False, dependencies=ADMIN_ONLY)


@router.get("/topics", response_class=HTMLResponse)
def topic_rules_page(request: Request, session: Session = Depends(db_session)) -> Response:
    return _rules_page(request, session, {}, {})


@router.post("/topics/{slug}/rules", response_class=HTMLResponse)
def rule_add(
    slug: str,
    request: Request,
    session: Session = Depends(db_session),
    form: FormData = Depends(read_form),
) -> Response:
    if not SLUG_PATTERN.match(slug):
        raise HTTPException(404, "There is no such topic.")
    values = {f"phrase-{slug}": forms.text(form, "phrase", 200)}
    values[f"weight-{slug}"] = forms.text(form, "weight", 20) or "1"
    try:
        weight = float(values[f"weight-{slug}"])
        who = actor(signed_in(request))
        topic_rules.add_rule(session, slug, values[f"phrase-{slug}"], weight, who)
    except ValueError as exc:
        message = str(exc) if isinstance(exc, topic_rules.RuleError) else "Enter a number."
        return _rules_page(request, session, values, {f"phrase-{slug}": message}, 400)
    session.commit()
    return RedirectResponse(f"/staff/admin/topics#topic-{slug}", 303)


@router.post("/rules/{rule_id}/delete", response_class=HTMLResponse)
def rule_delete(rule_id: Id, request: Request, session: Session = Depends(db_session)) -> Response:
    try:
        topic_rules.remove_rule(session, rule_id, actor(signed_in(request)))
    except topic_rules.RuleError as exc:
        raise HTTPException(404, str(exc)) from None
    session.commit()
    return RedirectResponse("/staff/admin/topics", 303)


def _rules_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: forms.Errors,
    status_code: int = 200,
) -> Response:
    context = {"topics": topic_rules.rules_by_topic(session), "values": values, "errors": errors}
    return render(request, "admin/topics.html", context, status_code)
