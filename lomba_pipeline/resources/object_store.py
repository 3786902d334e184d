"""Object storage for posters: Cloudflare R2 (S3 API) or a local directory.

Both implementations share one contract, proven by the same tests:
- keys are content-addressed: ``<prefix>/<sha256><ext>``, so the same bytes are stored once;
- ``put`` returns the key and the public URL; ``get`` raises ``ObjectNotFound`` for a missing key;
- ``delete`` is idempotent and says whether something was removed; ``list`` is sorted.
"""

import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

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


class LocalObjectStore(ObjectStore):
    """A directory on disk (the default); the admin panel serves it under ``/media``."""

    root: str

    def _path(self, key: str) -> Path:
        return Path(self.root) / validate_key(key)

    def _write(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # write-then-rename: a reader never sees half an object
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path.read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> list[str]:
        root = Path(self.root)
        if not root.is_dir():
            return []
        keys = [
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        ]
        return sorted(k for k in keys if k.startswith(prefix))


class R2ObjectStore(ObjectStore):
    """Cloudflare R2 (or any S3-compatible store) through dagster-aws ``S3Resource``."""

    s3: dg.ResourceDependency[S3Resource]
    bucket: str

    def _client(self):
        return self.s3.get_client()

    def _write(self, key: str, data: bytes, content_type: str) -> None:
        self._client().put_object(
            Bucket=self.bucket,
            Key=validate_key(key),
            Body=data,
            ContentType=content_type,
            CacheControl="public, max-age=31536000, immutable",
        )

    def get(self, key: str) -> bytes:
        client = self._client()
        try:
            return client.get_object(Bucket=self.bucket, Key=validate_key(key))["Body"].read()
        except client.exceptions.NoSuchKey as exc:
            raise ObjectNotFound(key) from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client().head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        if existed:
            self._client().delete_object(Bucket=self.bucket, Key=key)
        return existed

    def list(self, prefix: str = "") -> list[str]:
        paginator = self._client().get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)


def object_store_from_settings(settings, *, for_dagster: bool = True) -> ObjectStore:
    """R2 when ``LOMBA_R2_*`` is configured, else the local directory.

    In the Dagster code location the R2 secrets stay ``EnvVar`` (resolved when a run starts, never
    shown in the UI); command-line callers outside Dagster get resolved values.
    """
    if settings.media.r2 is None:
        return LocalObjectStore(
            root=str(settings.media_dir), public_base_url=settings.media.public_url
        )
    if for_dagster:
        credentials = dict(
            endpoint_url=dg.EnvVar("LOMBA_R2_ENDPOINT_URL"),
            aws_access_key_id=dg.EnvVar("LOMBA_R2_ACCESS_KEY_ID"),
            aws_secret_access_key=dg.EnvVar("LOMBA_R2_SECRET_ACCESS_KEY"),
        )
    else:
        credentials = dict(
            endpoint_url=settings.media.r2.endpoint_url,
            aws_access_key_id=settings.media.r2.access_key_id,
            aws_secret_access_key=settings.media.r2.secret_access_key,
        )
    s3 = S3Resource(region_name="auto", **credentials)
    return R2ObjectStore(
        s3=s3, bucket=settings.media.r2.bucket, public_base_url=settings.media.r2.public_base_url
    )
