"""Provider webhooks: Amazon SES (through SNS) and Mailgun. Signed by the provider, not
behind a staff login; a bad signature is answered 401 and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from newsletter.config import Settings
from newsletter.inbound import webhooks
from newsletter.inbound.process import Result

router = APIRouter(prefix="/webhooks", include_in_schema=False)

Receiver = Callable[[bytes, Settings], "list[Result] | str"]


@router.post("/ses")
async def ses(request: Request) -> JSONResponse:
    return await _receive(request, webhooks.receive_ses)


@router.post("/mailgun")
async def mailgun(request: Request) -> JSONResponse:
    return await _receive(request, webhooks.receive_mailgun)


async def _receive(request: Request, receiver: Receiver) -> JSONResponse:
    body = await request.body()
    try:
        outcome = await run_in_threadpool(receiver, body, request.app.state.settings)
    except webhooks.NotConfigured as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except webhooks.Refused as exc:
        return JSONResponse({"error": f"refused: {exc}"}, status_code=401)
    except webhooks.Malformed as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if isinstance(outcome, str):
        return JSONResponse({"ok": True, "done": outcome})
    return JSONResponse({"ok": True, "results": [r.as_json() for r in outcome]})
