"""AWS Signature Version 4 verification for the AWS JSON 1.1 endpoint.

boto3 and the aws CLI sign every request. kbridge accepts signed requests as they are; when
access keys are configured it verifies the signature exactly as AWS does (canonical request,
string to sign, derived signing key) and checks that ``X-Amz-Date`` is within 15 minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_SPACES = re.compile(r"\s+")


class SigV4Error(Exception):
    """The request's SigV4 signature is missing, malformed, stale or wrong."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of a SigV4 ``Authorization`` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        """The credential scope ``date/region/service/aws4_request``."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse_authorization(header: str) -> Authorization:
    """Split a SigV4 Authorization header; SigV4Error when it is not one."""
    match = _AUTH.match(header.strip())
    if match is None:
        raise SigV4Error("Authorization header is not an AWS4-HMAC-SHA256 signature")
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise SigV4Error("Credential must be <key>/<date>/<region>/<service>/aws4_request")
    return Authorization(
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        tuple(match["signed"].split(";")),
        match["signature"],
    )


def _canonical_query(query: Sequence[tuple[str, str]]) -> str:
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """The SigV4 canonical request (header names in ``headers`` are lower-case)."""
    lines = [method.upper(), quote(path or "/", safe="/-_.~"), _canonical_query(query)]
    for name in signed_headers:
        value = headers.get(name)
        if value is None:
            raise SigV4Error(f"signed header {name!r} is missing from the request")
        lines.append(f"{name}:{_SPACES.sub(' ', value.strip())}")
    lines.append("")
    lines.append(";".join(signed_headers))
    lines.append(hashlib.sha256(body).hexdigest())
    return "\n".join(lines)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived SigV4 signing key."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def expected_signature(auth: Authorization, secret: str, amz_date: str, request: str) -> str:
    """The signature a holder of ``secret`` computes for ``request``."""
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, auth.scope, hashlib.sha256(request.encode()).hexdigest()]
    )
    key = signing_key(secret, auth.date, auth.region, auth.service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def verify(
    *,
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    now: datetime | None = None,
) -> str:
    """Verify a signed request; returns the access key id, raises SigV4Error otherwise."""
    header = headers.get("authorization")
    if not header:
        raise SigV4Error("the request is not signed (no Authorization header)")
    auth = parse_authorization(header)
    secret = secrets.get(auth.access_key_id)
    if secret is None:
        raise SigV4Error(f"unknown access key id {auth.access_key_id!r}")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SigV4Error("X-Amz-Date must be present as YYYYMMDDTHHMMSSZ") from None
    if not amz_date.startswith(auth.date):
        raise SigV4Error("X-Amz-Date does not match the credential scope date")
    skew = abs(((now or datetime.now(UTC)) - signed_at).total_seconds())
    if skew > MAX_SKEW_SECONDS:
        raise SigV4Error("Signature expired: X-Amz-Date is more than 15 minutes off")
    if "host" not in auth.signed_headers:
        raise SigV4Error("the host header must be signed")
    request = canonical_request(method, path, query, headers, auth.signed_headers, body)
    expected = expected_signature(auth, secret, amz_date, request)
    if not hmac.compare_digest(expected, auth.signature):
        raise SigV4Error(
            "The request signature we calculated does not match the signature you provided."
        )
    return auth.access_key_id
