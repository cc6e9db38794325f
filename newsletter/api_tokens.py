"""API tokens for integrations: shown once when created, stored only as a SHA-256 hash.

Tokens are long random strings, so a plain hash (not a slow password hash) is enough and lets
a request find its token by an indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import audit
from newsletter.models import ApiToken, utcnow

PREFIX = "nlt_"


class ApiTokenError(ValueError):
    pass


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_token(session: Session, name: str, actor: str) -> tuple[ApiToken, str]:
    """A new token and its plaintext, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise ApiTokenError("a token needs a name saying which integration uses it")
    if len(name) > 200:
        raise ApiTokenError("the name must be at most 200 characters")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=hash_token(plaintext), created_by=actor)
    session.add(token)
    session.flush()
    audit.record(session, actor, "api_token.create", "api_token", token.id, name=name)
    return token, plaintext


def verify_token(session: Session, plaintext: str) -> ApiToken | None:
    if not plaintext.startswith(PREFIX) or len(plaintext) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plaintext)))
    if token is not None:
        token.last_used_at = utcnow()
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))


def revoke_token(session: Session, token_id: int, actor: str) -> None:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise ApiTokenError("no such token")
    session.delete(token)
    audit.record(session, actor, "api_token.revoke", "api_token", token_id, name=token.name)
