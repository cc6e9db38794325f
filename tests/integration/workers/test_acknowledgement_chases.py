"""Issue 20's "done when" for urgent notices, with real processes: a Celery worker on Redis
and PostgreSQL, beat on a fast test clock (tests/faults/fast_clock.py), the SMTP test server,
and the landing page's POST. An urgent notice to 50 members, 20 of whom acknowledge, chases
exactly the other 30 after three days, and none after they acknowledge."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from newsletter.web.app import create_app
from tests.faults.processes import clock_env, fast_clock_beat
from tests.support.delivery_data import add_member, send_status
from tests.support.notices import (
    NOTICE_AT,
    ack_path,
    chase_sends,
    parsed,
    recipients_of,
    schedule_notice,
)
from tests.support.smtp_server import SmtpTestServer
from tests.support.worker import celery_worker, wait_for
from tests.support.worker_env import session  # noqa: F401 (a fixture: on the worker's database)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SPEED = 60.0  # a fake minute each real second: beat's minutely checks run once a loop
MEMBERS = [f"senco{n:02d}@example.com" for n in range(50)]
CHECKED = re.compile(r"Task newsletter\.chase_acknowledgements\[[^\]]+\] succeeded")


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def beat_from(env: dict[str, str], moment: datetime, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]  # noqa: F811
    """Beat on the product's schedule, its clock running from `moment` for an hour."""
    clock = clock_env(moment, SPEED)
    clock["FAST_CLOCK_FAKE_END"] = (moment + timedelta(hours=1)).isoformat()
    beat_env = {**env, **clock, "NEWSLETTER_VAR_DIR": str(tmp_path / name)}
    return fast_clock_beat(beat_env, tmp_path / f"{name}.log")


def acknowledge_from(messages: list[bytes], client: TestClient) -> None:
    """Each member presses the button on the link's page (the real POST; the page's GET is
    tested in tests/web/test_acknowledgements.py)."""
    for data in messages:
        answer = client.post(ack_path(parsed(data)), data={"confirm": "yes"})
        assert answer.status_code == 200 and "Thank you" in answer.text


def chase_checks(log: Path) -> int:
    return len(CHECKED.findall(log.read_text(errors="replace")))


def test_fifty_members_twenty_acknowledge_the_other_thirty_are_chased_once(
    env: dict[str, str],  # noqa: F811
    session: Session,  # noqa: F811
    smtp: SmtpTestServer,
    tmp_path: Path,
) -> None:
    for address in MEMBERS:
        add_member(session, address, {"funding": "weekly"}, role="SENCO")
    session.commit()
    notice = schedule_notice()
    worker_log = tmp_path / "worker.log"

    with celery_worker(env, worker_log), TestClient(create_app()) as site:
        # Monday 09:00: the notice goes out.
        with beat_from(env, NOTICE_AT - timedelta(seconds=30), tmp_path, "monday"):
            first = smtp.wait_for(50, timeout=120)
        acknowledge_from([m.data for m in first if m.rcpt_tos[0] in MEMBERS[:20]], site)

        # Thursday 09:00, three days on: the thirty who have not acknowledged are chased.
        with beat_from(env, NOTICE_AT + timedelta(days=3, minutes=-2), tmp_path, "thursday"):
            wait_for(lambda: len(chase_sends(notice)) == 1, 120, "no chase")
            chased = smtp.wait_for(80, timeout=120)[50:]
        [chase] = chase_sends(notice)
        assert Counter(r for m in chased for r in m.rcpt_tos) == Counter(MEMBERS[20:])
        assert recipients_of(chase) == set(MEMBERS[20:])
        wait_for(lambda: send_status(chase).value == "sent", 60, "chase not finished")
        acknowledge_from([m.data for m in chased], site)  # from the chase's own button

        # Sunday, three days after the chase, when a second one would be due: nobody is left.
        checks = chase_checks(worker_log)
        with beat_from(env, NOTICE_AT + timedelta(days=6, minutes=10), tmp_path, "sunday"):
            wait_for(lambda: chase_checks(worker_log) >= checks + 3, 120, "no chase checks")

    assert len(smtp.messages) == 80
    assert chase_sends(notice) == [chase]
    assert Counter(smtp.recipients()) == Counter({a: 1 for a in MEMBERS[:20]}) + Counter(
        {a: 2 for a in MEMBERS[20:]}
    )
