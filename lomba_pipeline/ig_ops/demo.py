"""Small generated demo posts (image + caption) for the operated accounts' content folders."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

_COLOURS = [(198, 40, 40), (21, 101, 192), (46, 125, 50), (239, 108, 0), (106, 27, 154)]


def demo_image(label: str, index: int, size: int = 320) -> bytes:
    img = Image.new("RGB", (size, size), _COLOURS[index % len(_COLOURS)])
    draw = ImageDraw.Draw(img)
    draw.rectangle((24, 24, size - 24, size - 24), outline=(255, 255, 255), width=6)
    draw.text((48, size // 2 - 10), label, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=70)
    return out.getvalue()


def write_demo_content(root: Path, account: str, posts: int = 3) -> Path:
    folder = Path(root) / account
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, posts + 1):
        stem = f"{n:03d}_info_lomba"
        (folder / f"{stem}.jpg").write_bytes(demo_image(f"{account} #{n}", n))
        (folder / f"{stem}.txt").write_text(
            f"Info lomba hari ini #{n} dari @{account}! Cek detail dan link pendaftaran di bio. "
            "#infolomba #lombamahasiswa",
            encoding="utf-8",
        )
    return folder


if __name__ == "__main__":
    import sys

    from lomba_pipeline.partitions import OPERATED_ACCOUNTS

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("config/demo_content")
    for account in OPERATED_ACCOUNTS:
        write_demo_content(target, account)
    print(f"demo content written to {target}")
