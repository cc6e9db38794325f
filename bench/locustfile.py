"""The web load of `make bench` (bench/web_load.py starts it): locust's users, run by locust in a
process of its own (locust patches the standard library with gevent as it starts, so nothing
else imports this file).

The plan (a JSON file named by BENCH_WEB_PLAN, written by web_load.py) gives the paths to use
(members' signed one-click and manage links, search terms), the staff account, and the files
this process reports through: one line in `ready` per user that has started (and signed in),
and, at the end, every request as `route,start,ms,status` in `records`.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, between, events, task
from locust.exception import StopUser

PLAN: dict[str, Any] = json.loads(Path(os.environ["BENCH_WEB_PLAN"]).read_text())
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ONE_CLICK = urlencode({"List-Unsubscribe": "One-Click"})  # RFC 8058's body
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Signing in (argon2) is slow on a loaded machine, and 30 clients do it at once: the web app
# may time one out (its database pool waits 30 s); a person would try again.
SIGN_IN_TRIES = 3

_records: list[tuple[str, float, float, int]] = []
_one_clicks = itertools.cycle(PLAN["one_click"])  # each member once, until they run out
_send: list[str] = []  # the send page's path, once web_load.py has named the send


@events.request.add_listener
def _record(
    name: str, start_time: float, response_time: float, response: Any = None, **_: Any
) -> None:
    status = getattr(response, "status_code", 0) or 0
    _records.append((name, start_time, response_time, int(status)))


@events.quitting.add_listener
def _write_records(**_: Any) -> None:
    with open(PLAN["records"], "w", newline="") as out:
        csv.writer(out).writerows(_records)


def _ready(problem: str = "") -> None:
    """One line per client started: "ok", or what stopped it."""
    with open(PLAN["ready"], "a") as out:
        out.write(f"{problem or 'ok'}\n")


def _send_page() -> str | None:
    if not _send:
        text = Path(PLAN["send_id_file"]).read_text() if Path(PLAN["send_id_file"]).exists() else ""
        if not text.strip():
            return None
        _send.append(f"/staff/sends/{int(text)}")
    return _send[0]


class MemberClient(FastHttpUser):
    """A member following a link from an email: the one-click unsubscribe, the manage page."""

    fixed_count = PLAN["member_users"]
    wait_time = between(*PLAN["wait_seconds"])

    def on_start(self) -> None:
        _ready()

    @task
    def one_click(self) -> None:
        self.client.post(next(_one_clicks), data=ONE_CLICK, headers=FORM, name="one-click")

    @task
    def manage(self) -> None:
        self.client.get(random.choice(PLAN["manage"]), name="manage")


class StaffClient(FastHttpUser):
    """A staff member, signed in as a browser does, watching the console."""

    fixed_count = PLAN["staff_users"]
    wait_time = between(*PLAN["wait_seconds"])

    def on_start(self) -> None:
        problem = ""
        for _ in range(SIGN_IN_TRIES):
            problem = self._sign_in()
            if not problem:
                _ready()
                return
        _ready(f"a staff client could not sign in: {problem}")
        raise StopUser()

    def _sign_in(self) -> str:
        """Sign in as a browser does; what went wrong, or "" when signed in."""
        page = self.client.get("/staff/login", name="sign-in")
        found = CSRF.search(page.text or "")
        if page.status_code != 200 or found is None:
            return f"the sign-in page answered {page.status_code}"
        form = {
            "email": PLAN["staff_email"],
            "password": PLAN["staff_password"],
            "csrf_token": found.group(1),
            "next": "/staff",
        }
        with self.client.post(
            "/staff/login", data=urlencode(form), headers=FORM, name="sign-in", catch_response=True
        ) as answer:
            if answer.status_code != 200 or 'name="password"' in (answer.text or ""):
                answer.failure("not signed in")
                return f"signing in answered {answer.status_code}"
        return ""

    def _page(self, path: str, name: str) -> None:
        # Not redirected: a lost session would otherwise time the sign-in page instead.
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as page:
            if page.status_code != 200:
                page.failure(f"answered {page.status_code}")

    @task
    def dashboard(self) -> None:
        self._page("/staff", "dashboard")

    @task
    def search(self) -> None:
        self._page(f"/staff/admin/members?q={random.choice(PLAN['searches'])}", "search")

    @task
    def send_page(self) -> None:
        path = _send_page()
        if path is not None:
            self._page(path, "send page")
