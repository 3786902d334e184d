"""The R2 (S3-compatible) object store through dagster-aws ``S3Resource``; imported only when R2
is configured (``object_store_from_settings``) or the class is asked for."""

import dagster as dg
from dagster_aws.s3 import S3Resource

from lomba_pipeline.resources.object_store_contract import (
    ObjectNotFound,
    ObjectStore,
    validate_key,
)


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
