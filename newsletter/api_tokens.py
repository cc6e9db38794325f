"""API tokens for integrations: shown once when created, stored only as a SHA-256 hash.

Tokens are long random strings, so a plain hash (not a slow password hash) is enough and lets
a request find its token by an indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.models import ALL_API_SCOPES, ApiToken, utcnow

PREFIX = "nlt_"
# What a token may do: an area of the API (its first path segment) and read (GET) or write.
SCOPES = tuple(ALL_API_SCOPES.split())
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class ApiTokenError(ValueError):
    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.field = field  # the form field it is about


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    name: str,
    actor: str,
    scopes: Iterable[str] = SCOPES,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its plaintext, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise ApiTokenError("a token needs a name saying which integration uses it")
    if len(name) > 200:
        raise ApiTokenError("the name must be at most 200 characters")
    chosen = [scope for scope in SCOPES if scope in set(scopes)]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApiTokenError(f"unknown scope {unknown[0]!r} (known: {', '.join(SCOPES)})", "scope")
    if not chosen:
        raise ApiTokenError("choose at least one thing the token may do", "scope")
    if expires_at is not None and expires_at <= utcnow():
        raise ApiTokenError("the expiry date must be in the future", "expires")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=hash_token(plaintext),
        created_by=actor,
        scopes=" ".join(chosen),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "api_token.create",
        "api_token",
        token.id,
        name=name,
        scopes=token.scopes,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return token, plaintext


def verify_token(session: Session, plaintext: str) -> ApiToken | None:
    """The token, if it exists and has not expired."""
    if not plaintext.startswith(PREFIX) or len(plaintext) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plaintext)))
    if token is None or (token.expires_at is not None and token.expires_at <= utcnow()):
        return None
    token.last_used_at = utcnow()
    return token


def scope_for(route_path: str, method: str) -> str:
    """The scope a route needs: "/api/v1/members/{email}" read by GET is "members:read"."""
    area = route_path.removeprefix("/api/v1/").split("/")[0].split(".")[0]
    return f"{area}:{'read' if method.upper() in READ_METHODS else 'write'}"


def allows(token: ApiToken, scope: str) -> bool:
    return scope in token.scopes.split()


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))


def revoke_token(session: Session, token_id: int, actor: str) -> None:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise ApiTokenError("no such token")
    session.delete(token)
    audit.record(session, actor, "api_token.revoke", "api_token", token_id, name=token.name)
