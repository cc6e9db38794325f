"""A schemathesis check, loaded through SCHEMATHESIS_HOOKS by test_api_credentials.py: without
a valid token every API request is refused, and the refusal carries no data."""

from __future__ import annotations

from typing import Any

import schemathesis

# What may come back without a token: the refusal; a 405 for a method no route has; a 400 for
# a body that is not JSON at all (FastAPI reads the body before it runs the token check).
ANSWERS = {
    401: {"detail": "A valid API token is required."},
    405: {"detail": "Method Not Allowed"},
    400: {"detail": "There was an error parsing the body"},
}


@schemathesis.check
def refused_without_a_token(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code not in ANSWERS:
        raise AssertionError(f"answered {response.status_code} without a valid token")
    if response.json() != ANSWERS[response.status_code]:
        raise AssertionError(f"the answer carries data: {response.text[:200]}")
