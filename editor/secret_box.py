"""Encrypting credential values at rest: Fernet (AES-CBC + HMAC) with keys that can rotate.

``settings.CREDENTIALS_KEYS`` (env ``CREDENTIALS_KEY``, comma-separated Fernet keys): the first
encrypts, every one decrypts, so a new key goes first and ``manage.py rotate_credentials``
re-encrypts everything with it before the old one is dropped. Without keys a development key is
derived from SECRET_KEY (system check orchestrator.W002 says so). That derived key also stays a
decrypt-only fallback once real keys are set, so credentials saved during a first try can be
rotated onto the real key instead of being lost; so do the keys derived from
SECRET_KEY_FALLBACKS, so a new SECRET_KEY does not lose what the old one's key encrypted.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

__all__ = ["InvalidToken", "SecretBoxError", "decrypt", "encrypt", "rotate", "uses_dev_key"]

# Domain separation: the same SECRET_KEY also signs sessions; this key must differ from anything
# else derived from it.
_HKDF_INFO = b"flowbuilder credentials v1"


class SecretBoxError(Exception):
    """The configured keys are unusable, or a value cannot be decrypted with any of them."""


def derived_dev_key(secret_key: str) -> bytes:
    """A Fernet key derived from SECRET_KEY: stable for one deployment, never stored."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


def configured_keys() -> list[str]:
    return [key.strip() for key in getattr(settings, "CREDENTIALS_KEYS", []) if key.strip()]


def uses_dev_key() -> bool:
    return not configured_keys()


def bad_keys() -> list[int]:
    """Positions (from 1) of configured keys that are not Fernet keys."""
    bad = []
    for position, key in enumerate(configured_keys(), start=1):
        try:
            Fernet(key)
        except ValueError:
            bad.append(position)
    return bad


@lru_cache(maxsize=4)
def _box(keys: tuple[str, ...], secret_key: str, fallbacks: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError:
            # Never the key itself in the message: it is the secret.
            raise SecretBoxError(
                f"CREDENTIALS_KEY entry {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None
    fernets.append(Fernet(derived_dev_key(secret_key)))
    fernets.extend(Fernet(derived_dev_key(fallback)) for fallback in fallbacks)
    return MultiFernet(fernets)


def box() -> MultiFernet:
    # Keyed on the settings' values so tests that override them get a matching box.
    fallbacks = tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    return _box(tuple(configured_keys()), settings.SECRET_KEY, fallbacks)


def encrypt(value: str) -> str:
    return box().encrypt(value.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return box().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise SecretBoxError(
            "the value cannot be decrypted with any configured key "
            "(was CREDENTIALS_KEY or SECRET_KEY changed without rotating?)"
        ) from None


def rotate(token: str) -> str:
    """The same value encrypted with the first key (MultiFernet.rotate keeps its timestamp)."""
    try:
        return box().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretBoxError("the value cannot be decrypted with any configured key") from None
