"""Rate limits that cannot be dodged or shared (issue 16, finding 6): an address counts once
however it is typed (case, +tag), an IPv6 client by its /64, and behind a reverse proxy on
another host each visitor has their own bucket once FORWARDED_ALLOW_IPS names the proxy
(uvicorn's proxy headers, which `newsletter serve` turns on)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsletter.web.app import create_app
from tests.web.server import newsletter_serve

CHOICES = {"name": "Ann", "role": "SENCO", "topic-funding": "daily"}
PER_CLIENT = 10  # manage-link and confirmation emails a client may ask for in an hour


def ask(app: FastAPI, path: str, email: str, client: str) -> int:
    """One request from this client address; its answer's status code."""
    data = {"email": email, **(CHOICES if path == "/subscribe" else {})}
    with TestClient(app, base_url="http://localhost:8000", client=(client, 40000)) as browser:
        return browser.post(path, data=data, follow_redirects=False).status_code


def test_plus_tags_and_capitals_share_one_address_allowance(db_url: str) -> None:
    app = create_app()
    typed = ["victim+a@school.org.uk", "Victim+b@School.org.uk", "VICTIM@school.org.uk"]
    answers = [ask(app, "/subscribe", email, f"192.0.2.{i}") for i, email in enumerate(typed)]
    assert answers == [303, 303, 303]
    # A fourth email to that mailbox, from yet another client, is one too many.
    assert ask(app, "/subscribe", "victim+d@school.org.uk", "192.0.2.99") == 429
    assert ask(app, "/manage", "victim+e@school.org.uk", "192.0.2.98") == 429
    assert ask(app, "/subscribe", "other@school.org.uk", "192.0.2.97") == 303


def test_an_ipv6_client_is_counted_by_its_64(db_url: str) -> None:
    app = create_app()
    answers = [
        ask(app, "/manage", f"person{i}@school.org.uk", f"2001:db8:5:6:{i:x}::{i + 1:x}")
        for i in range(PER_CLIENT + 1)
    ]
    assert answers == [303] * PER_CLIENT + [429]
    # The next /64 is someone else.
    assert ask(app, "/manage", "person99@school.org.uk", "2001:db8:5:7::1") == 303


def test_the_keys() -> None:
    from newsletter.throttle import address_key, client_key

    assert address_key(" Ann.Lee+News@Example.ORG ") == "ann.lee@example.org"
    assert address_key("ann@example.org") == "ann@example.org"
    assert client_key("2001:DB8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") == "192.0.2.7"


def manage_link_answers(base_url: str, visitors: list[str]) -> list[int]:
    """One manage-link request per visitor, as a reverse proxy forwards them."""
    answers = []
    with httpx.Client(base_url=base_url, timeout=30) as proxy:
        for i, visitor in enumerate(visitors):
            response = proxy.post(
                "/manage",
                data={"email": f"visitor{i}@school.org.uk"},
                headers={"X-Forwarded-For": visitor, "X-Forwarded-Proto": "https"},
            )
            answers.append(response.status_code)
    return answers


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_behind_a_proxy_each_visitor_has_a_bucket_once_the_proxy_is_trusted(
    db_url: str, tmp_path: Path
) -> None:
    visitors = [f"198.51.100.{i}" for i in range(PER_CLIENT + 1)]
    # The proxy (the test, on 127.0.0.1) is listed: each visitor is counted on their own...
    with newsletter_serve(tmp_path / "trusted.log", {"FORWARDED_ALLOW_IPS": "127.0.0.1"}) as url:
        assert manage_link_answers(url, visitors) == [303] * len(visitors)
        # ... an IPv6 visitor by their /64, however they rotate within it ...
        rotating = [f"2001:db8:9:9::{i + 1:x}" for i in range(PER_CLIENT + 1)]
        assert manage_link_answers(url, rotating) == [303] * PER_CLIENT + [429]
    # ... while a proxy that is not listed (FORWARDED_ALLOW_IPS names another host) is one
    # client, whatever it claims: a visitor cannot pick their own bucket.
    with newsletter_serve(tmp_path / "other.log", {"FORWARDED_ALLOW_IPS": "192.0.2.10"}) as url:
        assert manage_link_answers(url, visitors) == [303] * PER_CLIENT + [429]
