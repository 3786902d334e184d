"""Poster variants: a deterministic, configurable edit before a poster is re-published.

Re-posting an Instagram original byte-for-byte gets flagged as a duplicate by the platform; a small
crop, a frame, a resize and a re-encode make a different file that still reads the same. The same
input and options always give the same bytes, so re-runs store one variant.
"""

import io

from pydantic import BaseModel, Field


class VariantOptions(BaseModel):
    crop_fraction: float = Field(0.02, ge=0, le=0.2, description="cut from each edge")
    frame_px: int = Field(24, ge=0, le=200)
    frame_color: str = "#ffffff"
    max_side: int = Field(1080, ge=200, le=4096)
    jpeg_quality: int = Field(88, ge=50, le=95)

    @property
    def tag(self) -> str:
        """Short stable name for these options (part of the variant's object key)."""
        return (
            f"c{int(self.crop_fraction * 1000)}f{self.frame_px}"
            f"{self.frame_color.lstrip('#')}s{self.max_side}q{self.jpeg_quality}"
        )


def make_variant(data: bytes, options: VariantOptions | None = None) -> bytes:
    """JPEG bytes of the edited poster."""
    from PIL import Image, ImageOps  # here, not at load: only a broadcast edits posters

    options = options or VariantOptions()
    with Image.open(io.BytesIO(data)) as src:
        img = ImageOps.exif_transpose(src).convert("RGB")
    w, h = img.size
    dx, dy = int(w * options.crop_fraction), int(h * options.crop_fraction)
    if dx or dy:
        img = img.crop((dx, dy, w - dx, h - dy))
    inner = options.max_side - 2 * options.frame_px
    img.thumbnail((inner, inner), Image.Resampling.LANCZOS)
    if options.frame_px:
        img = ImageOps.expand(img, border=options.frame_px, fill=options.frame_color)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=options.jpeg_quality, optimize=True)
    return out.getvalue()
