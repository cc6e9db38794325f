"""Amazon SNS message signatures: is this notification really from SNS?

SNS signs each message (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over a canonical
string of its fields, with the key of the certificate at SigningCertURL. The certificate is
fetched only from a URL matching SNS_CERT_URL_PATTERN (by default an https URL on
sns.<region>.amazonaws.com): a message cannot make us fetch from anywhere else. Fetched
certificates are kept in memory.

A SubscriptionConfirmation is confirmed by fetching its SubscribeURL, which must be on the
same host as the (already checked) certificate URL.
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.request
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FETCH_TIMEOUT_SECONDS = 10
MAX_CERT_BYTES = 64_000
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


class BadMessage(Exception):
    """Not a genuine SNS message: the reason says why (never more than that)."""


_certificates: OrderedDict[str, x509.Certificate] = OrderedDict()
_lock = threading.Lock()


def string_to_sign(message: dict[str, Any]) -> bytes:
    kind = message.get("Type")
    names = NOTIFICATION_FIELDS if kind == "Notification" else SUBSCRIPTION_FIELDS
    lines = []
    for name in names:
        if name in message and message[name] is not None:
            lines.append(f"{name}\n{message[name]}\n")
        elif name != "Subject":
            raise BadMessage(f"the message has no {name}")
    return "".join(lines).encode("utf-8")


def verify(message: dict[str, Any], cert_url_pattern: str) -> None:
    """Raises BadMessage unless SNS signed this message."""
    version = str(message.get("SignatureVersion", ""))
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise BadMessage(f"unknown signature version {version!r}")
    url = str(message.get("SigningCertURL", ""))
    if not re.match(cert_url_pattern, url):
        raise BadMessage("the signing certificate is not at an allowed URL")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except ValueError:
        raise BadMessage("the signature is not base64") from None
    key = certificate(url).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadMessage("the signing certificate has no RSA key")
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise BadMessage("the signature does not match") from None


def certificate(url: str) -> x509.Certificate:
    with _lock:
        if url in _certificates:
            return _certificates[url]
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            data = response.read(MAX_CERT_BYTES + 1)
    except OSError as exc:
        raise BadMessage(f"cannot fetch the signing certificate: {exc}") from None
    if len(data) > MAX_CERT_BYTES:
        raise BadMessage("the signing certificate is too large")
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise BadMessage("the signing certificate is not a PEM certificate") from None
    with _lock:
        _certificates[url] = cert
        while len(_certificates) > 16:
            _certificates.popitem(last=False)
    return cert


def confirm_subscription(message: dict[str, Any]) -> None:
    """Visit the SubscribeURL of a verified SubscriptionConfirmation (same host as its cert)."""
    url = str(message.get("SubscribeURL", ""))
    cert = urlsplit(str(message.get("SigningCertURL", "")))
    target = urlsplit(url)
    if (target.scheme, target.netloc) != (cert.scheme, cert.netloc) or not target.netloc:
        raise BadMessage("the SubscribeURL is not on the SNS host")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read(MAX_CERT_BYTES)
    except OSError as exc:
        raise BadMessage(f"could not confirm the subscription: {exc}") from None
