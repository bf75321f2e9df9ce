"""The local broker's SASL_SSL listener, and SCRAM users and ACLs made on it for one test.

``deploy/local/stack.sh up`` starts the broker with it and writes ``.local/stack/secure.json``;
users and ACLs are made with ``stack.sh security`` (``deploy/local/KafkaSecurity.java``).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from infra import REPO
from topics.settings import KafkaSettings

STATE_DIR = Path(os.environ.get("STATE_DIR", REPO / ".local" / "stack"))
STACK = REPO / "deploy" / "local" / "stack.sh"


@dataclass(frozen=True)
class SecureKafka:
    """Where the SASL_SSL listener is, its CA, and a CA that did not sign it."""

    bootstrap: str
    ca: Path
    other_ca: Path
    admin: tuple[str, str]  # the broker's super user over SASL_SSL

    def settings(self, username: str, password: str, **changes: object) -> KafkaSettings:
        """Connection settings for ``username`` over SASL_SSL with SCRAM-SHA-512."""
        return KafkaSettings(
            bootstrap_servers=self.bootstrap, security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512", sasl_username=username,
            sasl_password=SecretStr(password), ssl_cafile=self.ca,
        ).model_copy(update=changes)  # fmt: skip

    def user(self, name: str, password: str) -> None:
        security("user", name, password)

    def allow(self, principal: str, operation: str, kind: str, name: str, pattern: str) -> None:
        security("acl", "allow", f"User:{principal}", operation, kind, name, pattern)


def security(*args: str) -> None:
    done = subprocess.run(
        ["bash", str(STACK), "security", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "STATE_DIR": str(STATE_DIR)},
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"stack.sh security {' '.join(args)}: {done.stdout}{done.stderr}")


def find_secure_kafka() -> SecureKafka:
    path = STATE_DIR / "secure.json"
    if not path.is_file():
        raise AssertionError(
            f"{path} is missing: the local broker has no SASL_SSL listener yet; run "
            "`make down && make up` (tests that need it fail rather than skip)"
        )
    found = json.loads(path.read_text())
    admin = (found["admin"]["username"], found["admin"]["password"])
    return SecureKafka(found["bootstrap"], Path(found["ca"]), Path(found["other_ca"]), admin)
