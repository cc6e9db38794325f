"""What the API's OpenAPI schema says about answers: the common errors and the links from
one operation's answer to the operations that take its id."""

from __future__ import annotations

from typing import Any

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid API token"},
    403: {"description": "The token lacks the scope this needs"},
    404: {"description": "Not found"},
    422: {"description": "The request is not valid; `detail` says why"},
}


def links(status: int, parameter: str, *operations: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links: the id (or email) in this answer is what those operations take."""
    field = "email" if parameter == "email" else "id"
    links = {
        operation: {
            "operationId": operation,
            "parameters": {parameter: f"$response.body#/{field}"},
        }
        for operation in operations
    }
    return {status: {"description": "Created" if status == 201 else "OK", "links": links}}
