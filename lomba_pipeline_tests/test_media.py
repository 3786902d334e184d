"""Untrusted image bytes and deterministic poster variants."""

import io

import pytest
from PIL import Image, ImageDraw

from lomba_pipeline.media.images import InvalidImage, inspect_image, phash_distance
from lomba_pipeline.media.variant import VariantOptions, make_variant


def poster(color=(200, 30, 30), size=(600, 800), fmt="PNG") -> bytes:
    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)  # big shapes, like a poster's title block and photo
    w, h = size
    draw.rectangle((w * 0.1, h * 0.1, w * 0.9, h * 0.3), fill=(255, 255, 255))
    draw.ellipse((w * 0.2, h * 0.45, w * 0.7, h * 0.85), fill=(20, 20, 120))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def test_inspect_real_image():
    info = inspect_image(poster(), "https://example.test/p.png")
    assert (info.content_type, info.width, info.height) == ("image/png", 600, 800)
    assert len(info.phash) == 16


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"<html>not a poster</html>", "not an image"),
        (poster()[:200], "broken image"),
    ],
)
def test_bad_images_are_named(data, reason):
    with pytest.raises(InvalidImage, match=rf"https://x.test/a.jpg: {reason}"):
        inspect_image(data, "https://x.test/a.jpg")


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(InvalidImage, match="too large"):
        inspect_image(poster(), "big.png", max_bytes=100)


def test_variant_is_deterministic_and_differs_from_original():
    original = poster(fmt="JPEG")
    a, b = make_variant(original), make_variant(original)
    assert a == b
    assert a != original
    info = inspect_image(a, "variant")
    assert info.content_type == "image/jpeg"
    assert max(info.width, info.height) <= VariantOptions().max_side
    # still the same picture to a person
    assert phash_distance(info.phash, inspect_image(original, "orig").phash) <= 12


def test_variant_options_change_the_bytes():
    original = poster(fmt="JPEG")
    assert make_variant(original, VariantOptions(frame_px=0)) != make_variant(original)
