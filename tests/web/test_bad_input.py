"""Bad input from outside gets a plain answer naming the problem, never a server error.

Run on PostgreSQL too, which refuses NUL characters and integers beyond 32 bits outright.
"""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_unknown_pages_are_404_pages(client: TestClient) -> None:
    for path in ("/nothing-here", "/articles/abc", "/articles/99999999999999999999", "/topics/%00"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Page not found" in page.text
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_nul_characters_and_odd_text_in_forms_are_harmless(client: TestClient) -> None:
    odd = {"email": "ann\x00@example.com", "name": "A\x00nn \U0001f600", "topic-funding": "daily"}
    subscribe = client.post("/subscribe", data=odd)
    assert subscribe.status_code == 200  # the NUL is dropped: ann@example.com subscribes
    manage = client.post("/manage", data={"email": "\x00"})
    assert manage.status_code == 400 and "Enter a valid email address" in manage.text
    for token in ("%00", "a" * 5000, "\u00e9t\u00e9.x"):
        assert client.get(f"/unsubscribe/{token}").status_code == 400
        assert client.post(f"/unsubscribe/{token}").status_code == 400


def test_odd_query_values_in_the_console_are_harmless(admin: TestClient) -> None:
    assert admin.get("/staff/admin/members?q=%00&page=99999999999999999999").status_code == 200
    assert admin.get("/staff/admin/audit?q=%00").status_code == 200
    assert admin.get("/staff/admin/suppression?q=%00").status_code == 200
    assert admin.get("/staff/progress.json?ids=99999999999999").json() == {}
    assert admin.get("/staff/admin/members/99999999999999999999").status_code == 404
    assert admin.get("/staff/articles?page=abc").status_code == 400


def test_wrong_methods_are_refused_plainly(client: TestClient) -> None:
    response = client.delete("/subscribe")
    assert response.status_code == 405
    assert "Traceback" not in response.text
