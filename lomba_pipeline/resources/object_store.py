"""Object storage for posters: Cloudflare R2 (S3 API) or a local directory.

Both implementations share one contract, proven by the same tests:
- keys are content-addressed: ``<prefix>/<sha256><ext>``, so the same bytes are stored once;
- ``put`` returns the key and the public URL; ``get`` raises ``ObjectNotFound`` for a missing key;
- ``delete`` is idempotent and says whether something was removed; ``list`` is sorted.

The R2 store lives in ``r2_object_store.py``: dagster-aws and boto3 (~0.5 s to import) load
only when R2 is configured or the class is asked for.
"""

import os
import sys
import tempfile
from pathlib import Path

import dagster as dg

from lomba_pipeline.resources.object_store_contract import (  # noqa: F401 (re-exported)
    EXTENSIONS,
    ObjectNotFound,
    ObjectStore,
    StoredObject,
    content_key,
    validate_key,
)


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


def is_r2(store: ObjectStore) -> bool:
    """Whether ``store`` is the R2 store, without importing dagster-aws to find out (if its
    module was never imported, no store can be one)."""
    module = sys.modules.get("lomba_pipeline.resources.r2_object_store")
    return module is not None and isinstance(store, module.R2ObjectStore)


def __getattr__(name: str):
    # ``from lomba_pipeline.resources.object_store import R2ObjectStore`` keeps working; only
    # that import pays for dagster-aws and boto3
    if name == "R2ObjectStore":
        from lomba_pipeline.resources.r2_object_store import R2ObjectStore

        return R2ObjectStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    from dagster_aws.s3 import S3Resource

    from lomba_pipeline.resources.r2_object_store import R2ObjectStore

    s3 = S3Resource(region_name="auto", **credentials)
    return R2ObjectStore(
        s3=s3, bucket=settings.media.r2.bucket, public_base_url=settings.media.r2.public_base_url
    )
