"""Entry encryption, the key setting, and bot-id normalisation."""

from __future__ import annotations

import base64
import logging
import os
import uuid

import pytest
from pydantic import SecretStr

from integrations.credentials import CredentialsConfigError, EntryCipher, generate_key
from integrations.credentials.crypto import UndecryptableEntry
from integrations.credentials.keys import make_key, normalise_bot_id

KEY_A = "actionstream:cred:{bot-a}:telegram:api_key"
KEY_B = "actionstream:cred:{bot-b}:telegram:api_key"


def test_round_trip_and_nonce_is_random() -> None:
    cipher = EntryCipher(os.urandom(32))
    first = cipher.seal(b'{"token":"t"}', bound_to=KEY_A)
    second = cipher.seal(b'{"token":"t"}', bound_to=KEY_A)

    assert first != second  # fresh nonce every time
    assert b"token" not in first
    assert cipher.open(first, bound_to=KEY_A) == b'{"token":"t"}'


def test_entry_opens_only_under_its_own_key_name() -> None:
    cipher = EntryCipher(os.urandom(32))
    sealed = cipher.seal(b"secret", bound_to=KEY_A)

    with pytest.raises(UndecryptableEntry):
        cipher.open(sealed, bound_to=KEY_B)


def test_entry_opens_only_with_its_own_key() -> None:
    sealed = EntryCipher(os.urandom(32)).seal(b"secret", bound_to=KEY_A)

    with pytest.raises(UndecryptableEntry):
        EntryCipher(os.urandom(32)).open(sealed, bound_to=KEY_A)


@pytest.mark.parametrize("garbage", [b"", b"\x01short", b"\x02" + bytes(40)])
def test_garbage_is_undecryptable(garbage: bytes) -> None:
    with pytest.raises(UndecryptableEntry):
        EntryCipher(os.urandom(32)).open(garbage, bound_to=KEY_A)


def test_generated_key_is_accepted_with_or_without_padding() -> None:
    key = generate_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    sealed = EntryCipher.from_text(key).seal(b"x", bound_to=KEY_A)
    assert EntryCipher.from_text(key.rstrip("=")).open(sealed, bound_to=KEY_A) == b"x"


def test_missing_key_outside_dev_mode_refuses_with_instructions() -> None:
    with pytest.raises(CredentialsConfigError) as caught:
        EntryCipher.from_settings(None, dev_mode=False)

    message = str(caught.value)
    assert "ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY" in message
    assert "os.urandom(32)" in message  # how to generate one
    assert "ACTIONSTREAM_DEV_MODE" in message


def test_blank_key_counts_as_missing() -> None:
    with pytest.raises(CredentialsConfigError, match="is not set"):
        EntryCipher.from_settings(SecretStr("  "), dev_mode=False)


def test_dev_mode_uses_an_ephemeral_key_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="integrations.credentials.crypto"):
        first = EntryCipher.from_settings(None, dev_mode=True)
        second = EntryCipher.from_settings(None, dev_mode=True)

    assert "ephemeral" in caplog.text
    with pytest.raises(UndecryptableEntry):
        second.open(first.seal(b"x", bound_to=KEY_A), bound_to=KEY_A)


@pytest.mark.parametrize(
    "bad", ["too-short-key", base64.urlsafe_b64encode(bytes(16)).decode(), "!!"]
)
def test_malformed_key_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(CredentialsConfigError) as caught:
        EntryCipher.from_settings(SecretStr(bad), dev_mode=True)  # even in dev mode

    assert "ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY" in str(caught.value)
    assert bad not in str(caught.value)


def test_bot_ids_are_normalised() -> None:
    bot = uuid.uuid4()
    assert normalise_bot_id(bot) == str(bot)
    assert normalise_bot_id(str(bot).upper()) == str(bot)
    assert normalise_bot_id(bot.hex) == str(bot)
    assert normalise_bot_id("bot_42") == "bot_42"


@pytest.mark.parametrize(
    ("bot_id", "provider", "strategy"),
    [
        ("", "telegram", "api_key"),
        ("a}b", "telegram", "api_key"),  # would end the Redis Cluster hash tag early
        ("bot", "tele:gram", "api_key"),  # ':' would make (a:b, c) and (a, b:c) collide
        ("bot", "telegram", "api*"),
        ("bot", "", "api_key"),
    ],
)
def test_malformed_key_parts_are_refused(bot_id: str, provider: str, strategy: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        make_key(bot_id, provider, strategy)


def test_derived_keys_are_shared_by_equal_keys_and_distinct_by_purpose() -> None:
    """What keys the rate limiter's fingerprints: the same on every worker with the same
    encryption key, another for another purpose or key, and never the key itself."""
    text = generate_key()
    one, other = EntryCipher.from_text(text), EntryCipher.from_text(text)
    fingerprint = one.derive("ratelimit-fingerprint/v1")
    assert len(fingerprint) == 32
    assert fingerprint == other.derive("ratelimit-fingerprint/v1")
    assert fingerprint != one.derive("another-purpose/v1")
    assert fingerprint != EntryCipher.from_text(generate_key()).derive("ratelimit-fingerprint/v1")
    assert fingerprint != base64.urlsafe_b64decode(text)
