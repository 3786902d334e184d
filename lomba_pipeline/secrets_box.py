"""Encryption at rest for credentials and sessions (Fernet, key from settings)."""

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key: str):
        self._fernet = Fernet(key.encode() if isinstance(key, str) else key)

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken as exc:
            raise ValueError(
                "cannot decrypt stored secret: LOMBA_ENCRYPTION_KEY differs from the key it was "
                "stored with"
            ) from exc

    def __repr__(self) -> str:  # never show the key
        return "SecretBox(<key hidden>)"


def secret_box_from_settings(settings) -> SecretBox:
    return SecretBox(settings.encryption_key)
