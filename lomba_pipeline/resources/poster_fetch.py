"""Download poster images with a size cap and a type check before the bytes are trusted."""

from __future__ import annotations

import httpx

from lomba_pipeline.media.images import MAX_IMAGE_BYTES


class PosterDownloadError(RuntimeError):
    """The poster at ``url`` could not be fetched (network, status, type or size)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class PosterFetcher:
    def __init__(self, timeout_seconds: float = 20.0, max_bytes: int = MAX_IMAGE_BYTES):
        self.max_bytes = max_bytes
        self._client = httpx.Client(
            timeout=timeout_seconds,
            follow_redirects=True,
            headers={"User-Agent": "lomba-pipeline/0.1 (+poster fetch)"},
        )

    def fetch(self, url: str) -> bytes:
        if not url.startswith(("http://", "https://")):
            raise PosterDownloadError(url, "not an http(s) URL")
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise PosterDownloadError(url, f"HTTP {response.status_code}")
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind and not kind.startswith(("image/", "application/octet-stream")):
                    raise PosterDownloadError(url, f"not an image (Content-Type {kind})")
                declared = int(response.headers.get("content-length") or 0)
                if declared > self.max_bytes:
                    raise PosterDownloadError(
                        url, f"too large ({declared} bytes > {self.max_bytes})"
                    )
                data = bytearray()
                for chunk in response.iter_bytes():
                    data.extend(chunk)
                    if len(data) > self.max_bytes:
                        raise PosterDownloadError(url, f"too large (> {self.max_bytes} bytes)")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise PosterDownloadError(url, f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
