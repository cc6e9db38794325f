"""The web app's fixtures (a TestClient on a fresh database, signed-in comms and admin staff),
shared with tests/web rather than written twice."""

from tests.web.conftest import admin, client, comms  # noqa: F401
