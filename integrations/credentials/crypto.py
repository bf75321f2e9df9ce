"""Encryption of cached credentials entries (AES-256-GCM).

Every entry written to Redis is sealed as::

    0x01 | nonce (12 random bytes) | AES-GCM ciphertext + 16-byte tag

with the entry's Redis key name as associated data. The tag therefore authenticates *where* an
entry lives as well as what it says: copying bot A's value under bot B's key makes decryption fail,
and the cache treats it as a miss. This is what keeps "bot A never runs with bot B's credentials"
true even against someone who can write to Redis but does not hold the key.

The key is 32 random bytes, urlsafe-base64 encoded (the same text format as a Fernet key), given in
``ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY`` and shared by every worker. Generate one with::

    python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"
"""

from __future__ import annotations

import base64
import binascii
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from integrations.credentials.errors import CredentialsConfigError

log = logging.getLogger(__name__)

KEY_SETTING = "ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY"
GENERATE_HINT = (
    'python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
)
_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12  # 96-bit random nonce: the size AES-GCM is designed for


class UndecryptableEntry(Exception):
    """An entry failed authentication: another key, another Redis key name, or tampering."""


def generate_key() -> str:
    """A new random key, in the text format ``ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY`` takes."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class EntryCipher:
    """Seals and opens cache entries with AES-256-GCM, binding each to its Redis key name."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise CredentialsConfigError(
                f"the credentials encryption key must be 32 bytes, got {len(key)}"
            )
        self._aead = AESGCM(key)
        self._key = key

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (HKDF-SHA256 of this key): as shared as this key is,
        and telling nothing about it, so one secret serves each keyed hash of the deployment."""
        info = f"actionstream/{purpose}".encode()
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self._key)

    @classmethod
    def from_text(cls, text: str) -> EntryCipher:
        """Build from the urlsafe-base64 text of a key (padding optional)."""
        try:
            raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            # Never echo the value: a near-miss key is still a secret.
            raise CredentialsConfigError(
                f"{KEY_SETTING} must be 32 random bytes in urlsafe base64 (44 characters); the "
                f"value given ({len(text)} characters) is not. Generate one with: {GENERATE_HINT}"
            )
        return cls(raw)

    @classmethod
    def from_settings(cls, key: SecretStr | None, *, dev_mode: bool) -> EntryCipher:
        """Build from settings; without a key refuse, unless in dev mode (then: ephemeral key)."""
        if key is not None and key.get_secret_value().strip():
            return cls.from_text(key.get_secret_value())
        if not dev_mode:
            raise CredentialsConfigError(
                f"{KEY_SETTING} is not set. Cached credentials are encrypted in Redis, so the "
                f"worker refuses to start without a key. Generate one with: {GENERATE_HINT} and "
                "give the same value to every worker (or set ACTIONSTREAM_DEV_MODE=true to use "
                "a throw-away key on a development machine)."
            )
        log.warning(
            "%s is not set; dev mode: using an ephemeral key. Entries cached by other processes "
            "cannot be read and will be refetched, and rate limits are not shared with them.",
            KEY_SETTING,
        )
        return cls(os.urandom(32))

    def seal(self, plaintext: bytes, *, bound_to: str) -> bytes:
        """Encrypt ``plaintext`` so that it only opens under the same key name ``bound_to``."""
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def open(self, sealed: bytes, *, bound_to: str) -> bytes:
        """Decrypt an entry sealed for ``bound_to``; raise :class:`UndecryptableEntry` otherwise."""
        header = len(_FORMAT_V1) + _NONCE_BYTES
        if len(sealed) <= header or not sealed.startswith(_FORMAT_V1):
            raise UndecryptableEntry("unknown entry format")
        nonce = sealed[len(_FORMAT_V1) : header]
        try:
            return self._aead.decrypt(nonce, sealed[header:], bound_to.encode())
        except InvalidTag:
            raise UndecryptableEntry("authentication failed") from None
