"""Choosing a backend by name, and the backends that need no server: memory, console, file."""

from __future__ import annotations

import email
from email import policy
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.delivery import backends
from newsletter.delivery.backends import ENTRY_POINT_GROUP, get_backend
from newsletter.delivery.backends.base import BackendUnavailable, Outcome, UnknownBackend
from newsletter.delivery.backends.file import INDEX_NAME, eml_name
from newsletter.delivery.backends.memory import clear, outbox
from tests.support.outgoing import outgoing


class AcmeBackend:
    """Stands in for a provider's backend installed from another distribution."""

    name = "acme"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def open(self) -> None:
        raise NotImplementedError


def install_plugins(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    found = [
        EntryPoint(name=n, value=f"{__name__}:AcmeBackend", group=ENTRY_POINT_GROUP) for n in names
    ]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return found if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(backends, "entry_points", entry_points)


def test_the_settings_pick_the_backend() -> None:
    for name in ("smtp", "console", "file", "memory"):
        assert get_backend(settings=Settings(EMAIL_BACKEND=name)).name == name


def test_a_name_given_wins_over_the_settings() -> None:
    assert get_backend("memory", Settings(EMAIL_BACKEND="smtp")).name == "memory"


def test_other_backends_come_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugins(monkeypatch, "acme")
    settings = Settings(EMAIL_BACKEND="acme")

    backend = get_backend(settings=settings)

    assert isinstance(backend, AcmeBackend)
    assert backend.settings is settings


def test_an_unknown_name_lists_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugins(monkeypatch, "acme")

    with pytest.raises(UnknownBackend) as error:
        get_backend("sendgird", Settings())

    assert str(error.value) == (
        "unknown email backend 'sendgird'; choose one of: smtp, console, file, memory, acme"
    )


def test_memory_backend_keeps_messages_in_a_shared_outbox() -> None:
    clear()
    messages = [outgoing("ann@example.com"), outgoing("bob@example.com")]

    connection = get_backend("memory", Settings()).open()
    results = connection.send_batch(messages)
    connection.close()

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    assert outbox == messages
    clear()
    assert outbox == []


def test_console_backend_prints_recipient_and_subject(capsys: pytest.CaptureFixture[str]) -> None:
    connection = get_backend("console", Settings()).open()
    results = connection.send_batch(
        [outgoing("ann@example.com", "Funding update: £2m for SEND"), outgoing("bob@example.com")]
    )
    connection.close()

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "email to ann@example.com: Funding update: £2m for SEND",
        "email to bob@example.com: Hello",
    ]
    assert {r.outcome for r in results} == {Outcome.SENT}


def file_backend(folder: Path) -> backends.Backend:
    return get_backend("file", Settings(EMAIL_FILE_DIR=folder))


def test_file_backend_writes_eml_files_and_an_index(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    first = outgoing("ann@example.com", "NPQ <deadline> & more")
    second = outgoing("bob@example.com", "Weekly digest")

    for message in (first, second):  # two batches: the index must list both
        connection = file_backend(folder).open()
        assert connection.send_batch([message])[0].outcome is Outcome.SENT
        connection.close()

    emls = sorted(p.name for p in folder.glob("*.eml"))
    assert emls == sorted([eml_name(first.message_id), eml_name(second.message_id)])
    parsed = email.message_from_bytes(
        (folder / eml_name(first.message_id)).read_bytes(), policy=policy.default
    )
    assert parsed["Subject"] == "NPQ <deadline> & more"
    index = (folder / INDEX_NAME).read_text()
    assert "NPQ &lt;deadline&gt; &amp; more" in index
    assert "<deadline>" not in index
    assert "Weekly digest" in index and "bob@example.com" in index
    assert f'href="{eml_name(first.message_id)}"' in index


@pytest.mark.parametrize(
    "message_id",
    ["<../../etc/passwd@example.com>", "</abs/path>", "<a b\\c?d#e>", "<>", "<" + "x" * 400 + ">"],
)
def test_eml_names_stay_inside_the_folder(message_id: str) -> None:
    name = eml_name(message_id)

    assert Path(name).name == name
    assert not name.startswith(".")
    assert name.endswith(".eml") and len(name) < 200


def test_distinct_long_message_ids_get_distinct_names() -> None:
    assert eml_name("<" + "x" * 400 + "1>") != eml_name("<" + "x" * 400 + "2>")


def test_file_backend_that_cannot_make_its_folder_says_which(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the folder should be")

    with pytest.raises(BackendUnavailable, match=str(blocker / "outbox")):
        file_backend(blocker / "outbox").open()
