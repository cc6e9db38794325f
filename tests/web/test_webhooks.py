"""Provider webhooks: Amazon SES through SNS, with real signatures made with a test
certificate served over HTTP on 127.0.0.1, and Mailgun with its HMAC signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.config import get_settings
from newsletter.db import session_scope
from newsletter.inbound import sns
from newsletter.models import InboundEvent, Member, MemberStatus, Suppression, SuppressionReason
from newsletter.web.app import create_app
from tests.support.certs import Issued, TestCA
from tests.support.delivery_data import add_member
from tests.support.servers import free_port

TOPIC = "arn:aws:sns:eu-west-2:123456789012:newsletter-ses"
MAILGUN_KEY = "key-test-mailgun-signing-key"


class CertHost:
    """An HTTP server on 127.0.0.1 standing in for sns.<region>.amazonaws.com: it serves the
    signing certificate and records every request it gets."""

    def __init__(self, certificate: bytes) -> None:
        self.port = free_port()
        self.requests: list[str] = []
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                host.requests.append(self.path)
                body = (
                    certificate if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
                )
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CertHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def signing() -> Issued:
    return TestCA("Test SNS CA").issue("sns.eu-west-2.amazonaws.com", server=False)


@pytest.fixture
def cert_host(signing: Issued) -> Iterator[CertHost]:
    with CertHost(signing.cert_pem) as host:
        yield host


@pytest.fixture
def client(
    db_url: str, cert_host: CertHost, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("NEWSLETTER_SES_TOPIC_ARNS", json.dumps([TOPIC]))
    monkeypatch.setenv(
        "NEWSLETTER_SNS_CERT_URL_PATTERN", rf"^http://127\.0\.0\.1:{cert_host.port}/[^?#]+\.pem$"
    )
    monkeypatch.setenv("NEWSLETTER_MAILGUN_SIGNING_KEY", MAILGUN_KEY)
    monkeypatch.setenv("NEWSLETTER_FROM_ADDRESS", "School Leaders Network <news@example.org>")
    get_settings.cache_clear()
    sns._certificates.clear()
    with session_scope() as session:
        add_member(session, "ann@example.com", {"funding": "immediate"})
        add_member(session, "bob@example.com", {"funding": "immediate"})
    with TestClient(create_app(), base_url="http://localhost:8000") as test_client:
        yield test_client


def canonical(message: dict[str, str]) -> bytes:
    """The string SNS signs (docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message)."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()


def signed(message: dict[str, str], key: Issued, version: str = "1") -> dict[str, str]:
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.key.sign(canonical(message), padding.PKCS1v15(), algorithm)
    return {
        **message,
        "SignatureVersion": version,
        "Signature": base64.b64encode(signature).decode(),
    }


def notification(
    cert_host: CertHost, body: dict[str, Any], message_id: str = "m-1"
) -> dict[str, str]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(body),
        "Timestamp": "2026-11-30T07:00:00.000Z",
        "SigningCertURL": f"{cert_host.base}/SimpleNotificationService-test.pem",
        "UnsubscribeURL": f"{cert_host.base}/?Action=Unsubscribe",
    }


def ses_bounce(email: str) -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-30T07:00:01.000Z",
            "feedbackId": "0100018c-feedback",
        },
        "mail": {
            "messageId": "0100018c-ses",
            "source": "news-bounces@example.org",
            "destination": [email],
        },
    }


def post_ses(client: TestClient, message: dict[str, str]) -> Any:
    return client.post(
        "/webhooks/ses",
        content=json.dumps(message),
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": message["Type"],
        },
    )


def changed() -> tuple[int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(InboundEvent)) or 0,
            session.scalar(select(func.count()).select_from(Suppression)) or 0,
        )


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_ses_bounce_suppresses_the_address(
    client: TestClient, cert_host: CertHost, signing: Issued, version: str
) -> None:
    response = post_ses(
        client, signed(notification(cert_host, ses_bounce("ann@example.com")), signing, version)
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["kind"] == "hard_bounce" and result["recipient"] == "ann@example.com"
    with session_scope() as session:
        row = session.scalar(select(Suppression).where(Suppression.email == "ann@example.com"))
        assert row is not None and row.reason == SuppressionReason.HARD_BOUNCE
    assert cert_host.requests == ["/SimpleNotificationService-test.pem"]


def test_a_tampered_notification_is_refused_and_changes_nothing(
    client: TestClient, cert_host: CertHost, signing: Issued
) -> None:
    message = signed(notification(cert_host, ses_bounce("bob@example.com")), signing)
    message["Message"] = json.dumps(ses_bounce("ann@example.com"))  # after signing
    response = post_ses(client, message)
    assert response.status_code == 401
    assert "signature does not match" in response.json()["error"]
    assert changed() == (0, 0)


def test_a_signature_by_another_key_is_refused(client: TestClient, cert_host: CertHost) -> None:
    impostor = TestCA("Impostor").issue("sns.eu-west-2.amazonaws.com", server=False)
    response = post_ses(
        client, signed(notification(cert_host, ses_bounce("ann@example.com")), impostor)
    )
    assert response.status_code == 401
    assert changed() == (0, 0)


def test_a_certificate_elsewhere_is_never_fetched(client: TestClient, signing: Issued) -> None:
    with CertHost(signing.cert_pem) as elsewhere:
        message = notification(elsewhere, ses_bounce("ann@example.com"))
        response = post_ses(client, signed(message, signing))
    assert response.status_code == 401
    assert "not at an allowed URL" in response.json()["error"]
    assert elsewhere.requests == []
    assert changed() == (0, 0)


def test_another_topic_is_refused(client: TestClient, cert_host: CertHost, signing: Issued) -> None:
    message = notification(cert_host, ses_bounce("ann@example.com"))
    message["TopicArn"] = "arn:aws:sns:eu-west-2:999999999999:someone-else"
    assert post_ses(client, signed(message, signing)).status_code == 401
    assert changed() == (0, 0)


def test_a_subscription_is_confirmed(
    client: TestClient, cert_host: CertHost, signing: Issued
) -> None:
    message = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "s-1",
        "Token": "2336412f37fb687f5d51e6e2425dacbba",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": f"{cert_host.base}/?Action=ConfirmSubscription&Token=2336412f",
        "Timestamp": "2026-11-30T07:00:00.000Z",
        "SigningCertURL": f"{cert_host.base}/SimpleNotificationService-test.pem",
    }
    response = post_ses(client, signed(message, signing))
    assert response.status_code == 200 and response.json()["done"] == "subscription confirmed"
    assert "/?Action=ConfirmSubscription&Token=2336412f" in cert_host.requests


def test_an_ses_complaint_unsubscribes_and_a_retry_changes_nothing_more(
    client: TestClient, cert_host: CertHost, signing: Issued
) -> None:
    body = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "bob@example.com"}],
            "complaintFeedbackType": "abuse",
        },
        "mail": {"messageId": "0100018c-ses-2", "source": "news-bounces@example.org"},
    }
    message = signed(notification(cert_host, body, "m-2"), signing)
    assert post_ses(client, message).json()["results"][0]["kind"] == "complaint"
    before = changed()
    again = post_ses(client, message).json()["results"]
    assert again[0].get("duplicate") is True
    assert changed() == before
    with session_scope() as session:
        bob = session.scalar(select(Member).where(Member.email == "bob@example.com"))
        assert bob is not None and bob.status == MemberStatus.COMPLAINED and not bob.subscriptions


def mailgun_event(email: str, severity: str = "permanent") -> dict[str, Any]:
    return {
        "id": f"mg-{email}-{severity}",
        "event": "failed",
        "severity": severity,
        "recipient": email,
        "reason": "bounce",
        "delivery-status": {
            "code": 550,
            "enhanced-code": "5.1.1",
            "message": "550 5.1.1 The email account that you tried to reach does not exist.",
        },
        "message": {"headers": {"message-id": "abc@example.org", "subject": "Pay award"}},
    }


def mailgun_body(event: dict[str, Any], key: str = MAILGUN_KEY) -> str:
    timestamp, token = "1796018400", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": event,
        }
    )


def test_a_signed_mailgun_failure_suppresses(client: TestClient) -> None:
    response = client.post(
        "/webhooks/mailgun", content=mailgun_body(mailgun_event("ann@example.com"))
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["kind"] == "hard_bounce"
    assert changed() == (1, 1)


def test_a_mailgun_event_with_a_bad_signature_is_refused(client: TestClient) -> None:
    body = mailgun_body(mailgun_event("ann@example.com"), key="not-the-key")
    response = client.post("/webhooks/mailgun", content=body)
    assert response.status_code == 401
    assert changed() == (0, 0)


def test_a_temporary_mailgun_failure_is_soft(client: TestClient) -> None:
    response = client.post(
        "/webhooks/mailgun", content=mailgun_body(mailgun_event("ann@example.com", "temporary"))
    )
    assert response.json()["results"][0]["kind"] == "soft_bounce"
    assert changed() == (1, 0)


def test_garbage_is_a_400_and_an_unconfigured_webhook_a_404(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.post("/webhooks/ses", content=b"\x00not json").status_code == 400
    monkeypatch.delenv("NEWSLETTER_MAILGUN_SIGNING_KEY")
    get_settings.cache_clear()
    with TestClient(create_app()) as other:
        assert other.post("/webhooks/mailgun", content=b"{}").status_code == 404
    assert changed() == (0, 0)
