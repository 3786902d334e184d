"""Instagram private-API JSON shapes (SYNTHETIC data), as instagrapi's extractors expect them.

Used by the offline demo's fake Instagram and by the test fake. Keys follow a real feed item
(domain notes §A4); every value here is made up.
"""

from __future__ import annotations

from datetime import datetime

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def shortcode_from_pk(pk: int) -> str:
    """Instagram's base64-style media code for a media pk (inverse of media_pk_from_code)."""
    code = ""
    while pk > 0:
        pk, rem = divmod(pk, 64)
        code = _ALPHABET[rem] + code
    return code


def user_payload(pk: int, username: str, media_count: int) -> dict:
    return {
        "pk": pk,
        "pk_id": str(pk),
        "username": username,
        "full_name": username.replace(".", " ").title(),
        "is_private": False,
        "profile_pic_url": "https://example.invalid/profile.jpg",
        "is_verified": False,
        "media_count": media_count,
        "follower_count": 1200,
        "following_count": 10,
        "is_business": False,
        "biography": "SYNTHETIC profile for the offline demo and tests",
    }


def media_item(
    pk: int, user_pk: int, username: str, caption: str, taken_at: datetime, image_url: str
) -> dict:
    ts = int(taken_at.timestamp())
    return {
        "taken_at": ts,
        "pk": str(pk),
        "id": f"{pk}_{user_pk}",
        "media_type": 1,
        "code": shortcode_from_pk(pk),
        "product_type": "feed",
        "comment_count": 3,
        "like_count": 42,
        "user": {
            "pk": user_pk,
            "username": username,
            "full_name": username,
            "is_private": False,
            "profile_pic_url": "https://example.invalid/profile.jpg",
            "is_verified": False,
        },
        "image_versions2": {"candidates": [{"width": 1080, "height": 1350, "url": image_url}]},
        "original_width": 1080,
        "original_height": 1350,
        "caption": {
            "pk": str(pk + 1),
            "user_id": user_pk,
            "text": caption,
            "type": 1,
            "created_at": ts,
            "created_at_utc": ts,
            "content_type": "comment",
            "status": "Active",
        },
    }


def feed_page(items: list[dict], next_max_id: str | None) -> dict:
    return {
        "items": items,
        "num_results": len(items),
        "more_available": next_max_id is not None,
        "next_max_id": next_max_id,
        "status": "ok",
    }
