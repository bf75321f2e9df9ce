"""OAUTHBEARER token providers for the local broker, which accepts *unsecured* (unsigned) JWTs.

``ACTIONSTREAM_KAFKA__SASL_OAUTH_TOKEN_PROVIDER=support.kafka_tokens:UnsecuredJwt`` logs in as
the principal named by ``KAFKA_JWT_SUB`` (``admin`` by default). A real deployment names its own
provider, one that fetches signed tokens from its identity provider.
"""

from __future__ import annotations

import base64
import json
import os
import time

from aiokafka.abc import AbstractTokenProvider


def _part(claims: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


class UnsecuredJwt(AbstractTokenProvider):
    """An unsigned JWT (``alg: none``) for ``sub``, valid for an hour from each request."""

    def __init__(self, sub: str | None = None) -> None:
        self.sub = sub or os.environ.get("KAFKA_JWT_SUB", "admin")

    async def token(self) -> str:
        now = int(time.time())
        header = _part({"alg": "none"})
        return f"{header}.{_part({'sub': self.sub, 'iat': now, 'exp': now + 3600})}."
