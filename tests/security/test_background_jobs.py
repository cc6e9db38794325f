"""Finding 2, part one: a large members CSV or article is not parsed in the request. The page
stores it as a job and answers at once with a progress page; a worker does the import (here
in this process, as the staff_browser fixture does queued work) and the page shows the result.
tests/security/test_responsive.py shows the site answering meanwhile, with real processes."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter import background_jobs
from newsletter.background_jobs import BACKGROUND_CHARS
from newsletter.db import session_scope
from newsletter.inline import inline
from newsletter.models import Article, Job, JobStatus, Member, StaffRole, utcnow
from tests.support.member_rows import big_csv
from tests.web.conftest import make_staff, signed_in
from tests.web.helpers import csrf_of


def test_a_large_members_csv_is_imported_by_a_job_with_a_progress_page(
    staff_browser: TestClient, db_url: str
) -> None:
    make_staff(db_url, "admin@example.org", StaffRole.ADMIN)
    admin = signed_in(staff_browser, "admin@example.org")
    text = big_csv(2500, bad_line=7)
    assert len(text) > BACKGROUND_CHARS
    page = "/staff/admin/members-import"
    data = {"csrf_token": csrf_of(admin.get(page).text), "partial": "yes", "consent": "terms"}
    upload = {"file": ("members.csv", text.encode(), "text/csv")}

    started = admin.post(page, data=data, files=upload, follow_redirects=False)

    assert started.status_code == 303 and started.headers["location"].startswith("/staff/jobs/")
    progress = admin.get(started.headers["location"])
    assert progress.status_code == 200
    assert "Done." in progress.text and "Imported 2499 rows: 2499 new" in progress.text
    assert "invalid email address" in progress.text  # line 7, listed with its problem
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 2499
        assert session.scalars(select(Job.payload)).all() == [""]  # the upload is not kept


def test_a_large_article_is_imported_by_a_job_that_leads_to_it(
    staff_browser: TestClient, db_url: str
) -> None:
    make_staff(db_url, "comms@example.org", StaffRole.COMMS)
    comms = signed_in(staff_browser, "comms@example.org")
    body = "".join(f"<p>Paragraph {n} about NPQ funding for schools.</p>\n" for n in range(3000))
    text = f"<html><body><h1>A long report</h1>{body}</body></html>"
    token = csrf_of(comms.get("/staff/articles/new").text)
    upload = {"file": ("report.html", text.encode(), "text/html")}

    started = comms.post(
        "/staff/articles/new", data={"csrf_token": token}, files=upload, follow_redirects=False
    )
    assert started.status_code == 303 and started.headers["location"].startswith("/staff/jobs/")
    article = comms.get(started.headers["location"])
    assert article.status_code == 200 and "A long report" in article.text
    with session_scope(db_url) as session:
        assert session.scalars(select(Article.title)).all() == ["A long report"]


def test_someone_elses_job_is_not_shown_to_comms_staff(
    staff_browser: TestClient, db_url: str
) -> None:
    with session_scope(db_url) as session:
        session.add(Job(kind="member-import", created_by="staff:admin@example.org", total=1))
    make_staff(db_url, "comms@example.org", StaffRole.COMMS)
    comms = signed_in(staff_browser, "comms@example.org")
    assert comms.get("/staff/jobs/1").status_code == 404


def test_a_job_that_never_reached_a_worker_is_done_by_the_recovery_sweep(db_url: str) -> None:
    from newsletter.delivery import jobs

    with session_scope(db_url) as session:
        job = background_jobs.start(
            session, background_jobs.MEMBER_IMPORT, big_csv(3), {"consent": "terms"}, "test"
        )
        job.created_at = utcnow() - timedelta(minutes=10)  # its hand-over was lost
    with inline():
        jobs.sweep()
    with session_scope(db_url) as session:
        assert session.scalars(select(Job.status)).all() == [JobStatus.DONE]
        assert session.scalar(select(func.count()).select_from(Member)) == 3
