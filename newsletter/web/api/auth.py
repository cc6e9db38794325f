"""The API's credentials: an admin-issued bearer token, with the scope the route needs."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from newsletter.api_tokens import allows, scope_for, verify_token
from newsletter.models import ApiToken
from newsletter.web.deps import db_session

bearer = HTTPBearer(
    auto_error=False,
    description="An API token, created by an admin under Admin → API tokens.",
)


def api_client(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
    session: Session = Depends(db_session),
) -> ApiToken:
    token = verify_token(session, credentials.credentials) if credentials else None
    if token is None:
        raise unauthorised()
    route = request.scope.get("route")
    needed = scope_for(getattr(route, "path", request.url.path), request.method)
    if not allows(token, needed):
        raise HTTPException(403, f"This token may not do that (it needs the {needed} scope).")
    return token


def unauthorised() -> HTTPException:
    return HTTPException(
        401, "A valid API token is required.", headers={"WWW-Authenticate": "Bearer"}
    )


def token_actor(token: ApiToken) -> str:
    return f"token:{token.name}"
