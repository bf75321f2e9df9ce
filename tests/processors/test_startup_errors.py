"""What a user sees when the worker cannot start: one line naming the variable, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra import REPO


def start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ACTIONSTREAM_")}
    return subprocess.run(
        [sys.executable, "-m", "processors", "worker", *args],
        cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY is not set"),
        ({"ACTIONSTREAM_DEV_MODE": "true", "ACTIONSTREAM_WORKER__MAX_IN_FLIGHT": "many"},
         "ACTIONSTREAM_WORKER__MAX_IN_FLIGHT='many': Input should be a valid integer"),
        ({"ACTIONSTREAM_DEV_MODE": "true", "ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVER": "k:9092"},
         "ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVER is not a setting actionstream reads; did you mean "
         "ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS?"),
        ({"ACTIONSTREAM_DEV_MODE": "true", "ACTIONSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
          "ACTIONSTREAM_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512"},
         "SASL SCRAM-SHA-512 needs ACTIONSTREAM_KAFKA__SASL_USERNAME"),
        ({"ACTIONSTREAM_DEV_MODE": "true", "ACTIONSTREAM_KAFKA__SECURITY_PROTOCOL": "SSL",
          "ACTIONSTREAM_KAFKA__SSL_CAFILE": "/no/such/ca.pem"},
         "ACTIONSTREAM_KAFKA__SSL_CAFILE=/no/such/ca.pem: cannot load it"),
    ],
    ids=["no-key", "not-a-number", "misspelt", "sasl-without-user", "missing-ca"],
)  # fmt: skip
def test_a_configuration_error_is_one_line_and_exit_2(env: dict[str, str], says: str) -> None:
    done = start(env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "Starting" not in done.stdout + done.stderr  # refused before Faust started anything


def test_debug_shows_the_traceback() -> None:
    done = start({}, "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "ConfigError" in done.stderr
