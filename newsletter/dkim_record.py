"""The DKIM TXT record to publish for the configured key: `newsletter dkim-record`.

Its p= is the public half of the private key as an X.509 SubjectPublicKeyInfo (DER, base64),
what receivers' DKIM verifiers read.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

CHUNK = 255  # a TXT record's strings hold at most 255 characters each


@dataclass(frozen=True)
class TxtRecord:
    name: str  # selector._domainkey.domain
    value: str  # v=DKIM1; k=rsa; p=...

    def zone_line(self, ttl: int = 3600) -> str:
        """The record as a zone file line, the value cut into strings of 255 characters."""
        parts = [self.value[i : i + CHUNK] for i in range(0, len(self.value), CHUNK)]
        strings = " ".join(f'"{part}"' for part in parts)
        return f"{self.name}. {ttl} IN TXT ( {strings} )"


def txt_record(private_key_pem: bytes, selector: str, domain: str) -> TxtRecord:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_key_pem, password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    value = f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}"
    return TxtRecord(f"{selector}._domainkey.{domain}", value)
