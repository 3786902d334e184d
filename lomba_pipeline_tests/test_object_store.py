"""One contract, two implementations: the local directory store and R2 (moto over HTTP)."""

import hashlib

import pytest

from lomba_pipeline.resources.object_store import ObjectNotFound

PNG = b"\x89PNG\r\n\x1a\n" + b"poster-bytes" * 10


def test_put_is_content_addressed_and_returns_public_url(object_store):
    stored = object_store.put(PNG, "image/png")
    digest = hashlib.sha256(PNG).hexdigest()
    assert stored.key == f"posters/{digest}.png"
    assert stored.public_url == f"https://media.example.test/posters/{digest}.png"
    assert stored.size == len(PNG)
    assert object_store.get(stored.key) == PNG


def test_same_bytes_are_stored_once(object_store):
    first = object_store.put(PNG, "image/png")
    second = object_store.put(PNG, "image/png")
    assert first.key == second.key
    assert object_store.list("posters/") == [first.key]


def test_different_bytes_get_different_keys(object_store):
    a = object_store.put(PNG, "image/png")
    b = object_store.put(PNG + b"x", "image/png")
    assert a.key != b.key
    assert object_store.list() == sorted([a.key, b.key])


def test_exists_delete_and_missing_get(object_store):
    stored = object_store.put(PNG, "image/jpeg", prefix="variants")
    assert stored.key.startswith("variants/") and stored.key.endswith(".jpg")
    assert object_store.exists(stored.key)
    assert object_store.delete(stored.key) is True
    assert not object_store.exists(stored.key)
    assert object_store.delete(stored.key) is False  # idempotent
    with pytest.raises(ObjectNotFound, match=stored.key):
        object_store.get(stored.key)


def test_list_filters_by_prefix(object_store):
    a = object_store.put(b"one", "image/png", prefix="posters")
    b = object_store.put(b"two", "image/png", prefix="variants")
    assert object_store.list("posters/") == [a.key]
    assert object_store.list("variants/") == [b.key]


def test_put_at_stores_under_given_key(object_store):
    stored = object_store.put_at("variants/abc-v1.jpg", b"variant", "image/jpeg")
    assert stored.public_url.endswith("/variants/abc-v1.jpg")
    assert object_store.get("variants/abc-v1.jpg") == b"variant"


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/key", "a/../../b", "", "posters//x"])
def test_hostile_keys_are_refused(object_store, key):
    with pytest.raises(ValueError, match="invalid object key"):
        object_store.get(key)


def test_empty_object_is_refused(object_store):
    with pytest.raises(ValueError, match="empty"):
        object_store.put(b"", "image/png")
    assert object_store.list() == []
