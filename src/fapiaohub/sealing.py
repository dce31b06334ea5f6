"""Secrets sealed at rest: Fernet (AES-128-CBC + HMAC-SHA256) with the key from FAPIAOHUB_SECRET_KEY.

Old keys (FAPIAOHUB_OLD_SECRET_KEYS) still open what they sealed, so keys rotate without a
migration: new seals always use the current key, and `fapiaohub secrets rotate` re-seals stored
values under it (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from fapiaohub.errors import BusinessError

NO_KEY = ("服务器未配置加密密钥（FAPIAOHUB_SECRET_KEY），不能保存上游凭据：请运维用 fapiaohub secrets new-key"
          " 生成密钥后再创建上游任务")


class SealError(Exception):
    """A sealed value that none of the configured keys opens (wrong or retired key, or tampered)."""


class Sealer:
    """Seals and opens secrets with the current key; opens with old keys too."""

    def __init__(self, key: str, old_keys: tuple[str, ...] = ()) -> None:
        try:
            self._fernet = MultiFernet([Fernet(key.encode()), *(Fernet(old.encode()) for old in old_keys)])
        except ValueError:
            raise ValueError("FAPIAOHUB_SECRET_KEY / FAPIAOHUB_OLD_SECRET_KEYS: each key must be 32 url-safe"
                             " base64-encoded bytes (fapiaohub secrets new-key makes one)") from None
        self._mac_key = hashlib.sha256(b"fapiaohub-fingerprint:" + key.encode()).digest()

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealError("a sealed secret could not be opened with the configured keys") from None

    def rotate(self, sealed: str) -> str:
        """The same secret sealed under the current key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise SealError("a sealed secret could not be opened with the configured keys") from None

    def fingerprint(self, secret: str) -> str:
        """A keyed digest of a secret: tells two secrets apart without revealing either."""
        return hmac.new(self._mac_key, secret.encode(), hashlib.sha256).hexdigest()[:32]


def sealer_for(key: str | None, old_keys: tuple[str, ...] = ()) -> Sealer:
    """The sealer of the configured key, or a refusal naming the missing setting."""
    if not key:
        raise BusinessError("500", NO_KEY)
    return Sealer(key, old_keys)


def new_key() -> str:
    return Fernet.generate_key().decode()
