"""What every object store promises (keys, errors, the ``ObjectStore`` base), shared by the local
store (``object_store.py``) and the R2 store (``r2_object_store.py``) without either importing
the other."""

import hashlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

import dagster as dg

EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "application/json": ".json",
    "text/plain": ".txt",
}
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_\-/]*$")


class ObjectNotFound(KeyError):
    def __str__(self) -> str:
        return f"object not found: {self.args[0]}"


@dataclass(frozen=True)
class StoredObject:
    key: str
    public_url: str
    sha256: str
    size: int
    content_type: str


def validate_key(key: str) -> str:
    """Refuse keys that could escape the store (``..``, absolute paths, odd characters)."""
    if not key or not _KEY.match(key) or ".." in key.split("/") or "//" in key:
        raise ValueError(f"invalid object key: {key!r}")
    return key


def content_key(data: bytes, content_type: str, prefix: str) -> tuple[str, str]:
    """(key, sha256) for ``data``: the key depends only on the bytes, type and prefix."""
    prefix = prefix.strip("/")
    if not _PREFIX.match(prefix):
        raise ValueError(f"invalid key prefix: {prefix!r}")
    digest = hashlib.sha256(data).hexdigest()
    return f"{prefix}/{digest}{EXTENSIONS.get(content_type, '.bin')}", digest


class ObjectStore(dg.ConfigurableResource, ABC):
    """Where poster images live. ``public_base_url`` + key is what browsers and Meta fetch."""

    public_base_url: str

    def public_url(self, key: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/{validate_key(key)}"

    def put(self, data: bytes, content_type: str, prefix: str = "posters") -> StoredObject:
        if not data:
            raise ValueError("refusing to store an empty object")
        key, digest = content_key(data, content_type, prefix)
        if not self.exists(key):
            self._write(key, data, content_type)
        return StoredObject(key, self.public_url(key), digest, len(data), content_type)

    def put_at(self, key: str, data: bytes, content_type: str) -> StoredObject:
        """Store under a caller-chosen key (e.g. a derived variant next to its original)."""
        validate_key(key)
        self._write(key, data, content_type)
        digest = hashlib.sha256(data).hexdigest()
        return StoredObject(key, self.public_url(key), digest, len(data), content_type)

    @abstractmethod
    def _write(self, key: str, data: bytes, content_type: str) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]: ...
