"""Every router of the staff console, in the order the app includes them.

All but the sign-in and password-reset pages carry the STAFF_ONLY or ADMIN_ONLY guards, so no
other console page answers an anonymous request (tests/security/test_route_matrix.py).
"""

from __future__ import annotations

from fastapi import APIRouter

from newsletter.web.console import (
    account,
    acknowledgements,
    articles,
    dashboard,
    jobs,
    sends,
    sign_in,
)
from newsletter.web.console.admin import (
    api_tokens,
    audit_log,
    bounces,
    calendars,
    incidents,
    keyword_rules,
    member_files,
    members,
    roles,
    staff_accounts,
    suppression_list,
)

routers: list[APIRouter] = [
    sign_in.router,
    account.public_router,
    sign_in.signed_in_router,
    dashboard.router,
    account.router,
    articles.router,
    sends.router,
    members.router,
    member_files.router,
    suppression_list.router,
    staff_accounts.router,
    keyword_rules.router,
    api_tokens.router,
    audit_log.router,
    incidents.router,
    roles.router,
    calendars.router,
    bounces.router,
    jobs.router,
    acknowledgements.router,
]
