"""CDS Hooks client JWTs for the security tests: generated keys (never a published one), a JWKS
and a token builder whose claims a test can override or drop (pass None)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

BASE = "https://cds.example.org"
ISS = "https://ehr.example.org"
JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
DISCOVERY = "/cds-services"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "http" / "patient_view_candidate.json"

EC_KEY = ec.generate_private_key(ec.SECP384R1())
EC256_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = ec.generate_private_key(ec.SECP384R1())


def jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    return dict(algorithm.to_jwk(key.public_key(), as_dict=True), kid=kid)


JWKS = {"keys": [jwk(EC_KEY, "ec-1"), jwk(RSA_KEY, "rsa-1"), jwk(EC256_KEY, "ec256-1")]}


def token(
    path: str = DISCOVERY,
    *,
    key: Any = EC_KEY,
    alg: str = "ES384",
    kid: str | None = "ec-1",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": ISS,
        "aud": BASE + path,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "sub": "sandbox-client",
    } | claims
    payload = {k: v for k, v in payload.items() if v is not None}
    head = {"typ": "JWT"} | ({"kid": kid} if kid else {}) | (headers or {})
    return jwt.encode(payload, key, algorithm=alg, headers=head)
