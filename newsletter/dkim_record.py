"""The DKIM TXT record to publish for the configured key: `newsletter dkim-record`.

The record's p= is the public half of the private key as an X.509 SubjectPublicKeyInfo (DER,
base64), what receivers' dkimpy or OpenDKIM read. dkimpy parses keys but cannot encode one of
real size, so the few DER rules needed are written out here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

# rsaEncryption (1.2.840.113549.1.1.1), DER-encoded with its NULL parameters.
_RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")
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
    from dkim.crypto import parse_pem_private_key

    key = parse_pem_private_key(private_key_pem)
    public = public_key_info(key["modulus"], key["publicExponent"])
    value = f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}"
    return TxtRecord(f"{selector}._domainkey.{domain}", value)


def public_key_info(modulus: int, exponent: int) -> bytes:
    """SubjectPublicKeyInfo { rsaEncryption, BIT STRING { RSAPublicKey { n, e } } } in DER."""
    rsa_public_key = _tlv(0x30, _integer(modulus) + _integer(exponent))
    return _tlv(0x30, _RSA_ALGORITHM + _tlv(0x03, b"\x00" + rsa_public_key))


def _integer(value: int) -> bytes:
    # Big-endian, with a leading zero byte when the top bit is set (DER integers are signed).
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return _tlv(0x02, body)


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body
