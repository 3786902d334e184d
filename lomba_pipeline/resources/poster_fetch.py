"""Download poster images under the outbound-fetch policy, with a type check before the bytes
are trusted. Poster links come from scraped pages and Instagram media, so they are third-party
content: every hop is checked, the download has a total deadline and a byte cap."""

from __future__ import annotations

import httpx

from lomba_pipeline.media.images import MAX_IMAGE_BYTES
from lomba_pipeline.resources.outbound import (
    OutboundClient,
    OutboundError,
    OutboundFailed,
    OutboundPolicy,
    OutboundRefused,
)


class PosterDownloadError(RuntimeError):
    """The poster at ``url`` could not be fetched (policy, network, status, type or size)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


def _image_answer(response: httpx.Response) -> None:
    url = str(response.request.url)
    if response.status_code != 200:
        raise OutboundFailed(url, f"HTTP {response.status_code}")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and not kind.startswith(("image/", "application/octet-stream")):
        raise OutboundRefused(url, f"not an image (Content-Type {kind})")


class PosterFetcher:
    """``fetch(url) -> bytes``; any refusal or failure is a ``PosterDownloadError`` with a reason.
    The policy has no default: the caller says which internal hosts (if any) are allowed."""

    def __init__(self, policy: OutboundPolicy, max_bytes: int = MAX_IMAGE_BYTES):
        self.max_bytes = max_bytes
        self._client = OutboundClient(
            policy, headers={"User-Agent": "lomba-pipeline/0.1 (+poster fetch)"}
        )

    def fetch(self, url: str) -> bytes:
        try:
            return self._client.fetch(url, max_bytes=self.max_bytes, accept=_image_answer).body
        except OutboundError as exc:
            raise PosterDownloadError(url, exc.reason) from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
