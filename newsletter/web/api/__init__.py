"""The JSON API for integrations, under /api/v1, one module per resource.

Every resource's router carries `api_client` (newsletter.web.api.auth), so no route answers
without a valid bearer token; input is validated by the fields in newsletter.web.api.fields.
"""

from __future__ import annotations

from fastapi import APIRouter

from newsletter.web.api import articles, members, sends

router = APIRouter()
router.include_router(articles.router)
router.include_router(members.router)
router.include_router(sends.router)
