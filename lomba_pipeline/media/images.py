"""Checking untrusted image bytes: real type (by content, not by name), size, dimensions, phash.

Pillow and imagehash (with numpy and scipy behind it) are imported where an image is looked at:
loading the code location (every run and step process) does not pay for them.
"""

import io
import warnings
from dataclasses import dataclass

MAX_IMAGE_BYTES = 15 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # refuse decompression bombs long before they hurt
ALLOWED_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}


class InvalidImage(ValueError):
    """The bytes named by ``source`` are not an acceptable image."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int
    size_bytes: int
    phash: str


def inspect_image(data: bytes, source: str, max_bytes: int = MAX_IMAGE_BYTES) -> ImageInfo:
    """Validate ``data`` as a poster image; ``source`` (URL or path) names it in errors."""
    if not data:
        raise InvalidImage(source, "empty file")
    if len(data) > max_bytes:
        raise InvalidImage(source, f"too large ({len(data)} bytes > {max_bytes})")
    import imagehash
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                width, height = img.size
                if fmt not in ALLOWED_FORMATS:
                    raise InvalidImage(source, f"unsupported image type {fmt}")
                if width * height > MAX_IMAGE_PIXELS:
                    raise InvalidImage(source, f"too many pixels ({width}x{height})")
                img.load()  # catches truncated files
                phash = str(imagehash.phash(img.convert("RGB")))
    except InvalidImage:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(source, "not an image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(source, f"broken image ({exc})") from None
    return ImageInfo(ALLOWED_FORMATS[fmt], width, height, len(data), phash)


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex perceptual hashes (0 = same picture)."""
    import imagehash

    return imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b)
