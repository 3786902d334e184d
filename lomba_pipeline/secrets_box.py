"""Encryption at rest for credentials, sessions and tokens (Fernet).

``EncryptionKey`` is how run-time code gets the key: config nested in the resources that encrypt
(``ig_ops``, ``instagram``), built in ``definitions.py``. In production its ``key`` is
``dg.EnvVar("LOMBA_ENCRYPTION_KEY")`` (resolved when a run starts, shown in the UI only as the
variable's name); in development it holds the PATH of the key generated under ``LOMBA_HOME``,
never the key itself, so the Dagster UI's resource page cannot show it. (Nested config, not a
nested resource: a nested resource would make every ``build_sensor_context`` a context manager.)
"""

from pathlib import Path

import dagster as dg
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


class EncryptionKeyMissing(RuntimeError):
    """Neither a key nor a key file: the resource was built without one."""


class EncryptionKey(dg.Config):
    """The project's Fernet key, as config of the resources that need it.

    ``key``: the key itself, always from ``dg.EnvVar("LOMBA_ENCRYPTION_KEY")`` in the code location.
    ``key_file``: the generated development key's path (``LOMBA_HOME/encryption.key``).
    """

    key: str | None = None
    key_file: str | None = None

    def box(self) -> SecretBox:
        if self.key:
            return SecretBox(self.key)
        if self.key_file:
            path = Path(self.key_file)
            if not path.is_file():
                raise EncryptionKeyMissing(
                    f"encryption key file {path} does not exist: set LOMBA_ENCRYPTION_KEY or run "
                    "`lomba` once on this machine to generate the development key"
                )
            return SecretBox(path.read_text().strip())
        raise EncryptionKeyMissing(
            "no encryption key configured: build the resource with key= or key_file="
        )


def encryption_key_from_settings(settings) -> EncryptionKey:
    """``EnvVar`` when LOMBA_ENCRYPTION_KEY is set, else the path of the generated dev key."""
    if settings.encryption_key_env:
        return EncryptionKey(key=dg.EnvVar("LOMBA_ENCRYPTION_KEY"))
    settings.encryption_key  # noqa: B018 - generates the development key file once, if missing
    return EncryptionKey(key_file=str(settings.home / "encryption.key"))


def secret_box_from_settings(settings) -> SecretBox:
    """For the command-line entry points (outside Dagster)."""
    return SecretBox(settings.encryption_key)
