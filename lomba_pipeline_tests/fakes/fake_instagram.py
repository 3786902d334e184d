"""A local fake of Instagram's private API for profile reading (the real instagrapi talks to it).

Serves user lookup (``users/<name>/usernameinfo/``), the session check of
``login_by_sessionid`` (``users/<pk>/info/``), paged profile feeds (``feed/user/<pk>/``), media
info, and poster images. Error sequences are scripted with ``fail_next`` (see the helpers:
``refuse_feed`` for 401 / please-wait / rate limit, ``empty_feed`` for instagrapi's silent
empty list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from starlette.responses import Response

from lomba_pipeline.demo.ig_payloads import feed_page, media_item, shortcode_from_pk, user_payload
from lomba_pipeline.demo.site import poster_png
from lomba_pipeline_tests.fakes.http_fake import HttpFake, route

REFUSALS = {
    "401": (401, {"message": "Unauthorized", "status": "fail"}),
    "please_wait": (
        400,
        {"message": "Please wait a few minutes before you try again.", "status": "fail"},
    ),
    "rate_limit": (400, {"message": "", "error_type": "rate_limit_error", "status": "fail"}),
    "throttled": (429, {"message": "rate limited", "status": "fail"}),
}


@dataclass
class FakePost:
    pk: int
    caption: str
    taken_at: datetime

    @property
    def shortcode(self) -> str:
        return shortcode_from_pk(self.pk)


@dataclass
class FakeProfile:
    pk: int
    username: str
    posts: list[FakePost] = field(default_factory=list)  # newest first
    media_count: int | None = None  # what the profile page claims (default: len(posts))


class FakeInstagram(HttpFake):
    def __init__(self, page_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.page_size = page_size
        self.profiles: dict[str, FakeProfile] = {}

    # -- scripting ---------------------------------------------------------------------------
    def add_profile(self, username: str, posts: list[FakePost], media_count=None) -> FakeProfile:
        profile = FakeProfile(7_100 + len(self.profiles), username, posts, media_count)
        profile.posts.sort(key=lambda p: p.taken_at, reverse=True)
        self.profiles[username] = profile
        return profile

    def refuse_feed(self, times: int, kind: str = "401") -> None:
        status, body = REFUSALS[kind]
        self.fail_next("/feed/user/", status=status, body=body, times=times)

    def empty_feed(self, times: int) -> None:
        self.fail_next("/feed/user/", status=200, body=feed_page([], None), times=times)

    def image_url(self, post: FakePost) -> str:
        return f"{self.url}/media/{post.shortcode}.png"

    def _item(self, profile: FakeProfile, post: FakePost) -> dict:
        return media_item(
            post.pk, profile.pk, profile.username, post.caption, post.taken_at, self.image_url(post)
        )

    # -- routes ------------------------------------------------------------------------------
    @route("GET", r"/api/v1/users/([A-Za-z0-9._]+)/usernameinfo/")
    def usernameinfo(self, call, username):
        profile = self.profiles.get(username)
        if profile is None:
            return 404, {"message": "User not found", "status": "fail"}
        count = profile.media_count if profile.media_count is not None else len(profile.posts)
        return 200, {"user": user_payload(profile.pk, username, count), "status": "ok"}

    @route("GET", r"/api/v1/users/(\d+)/info/")
    def user_info(self, call, pk):
        return 200, {"user": user_payload(int(pk), "scraper", 0), "status": "ok"}

    @route("GET", r"/api/v1/feed/user/(\d+)/")
    def feed(self, call, pk):
        profile = next((p for p in self.profiles.values() if p.pk == int(pk)), None)
        if profile is None:
            return 404, {"message": "not found", "status": "fail"}
        start = int(call.query.get("max_id") or 0)
        page = profile.posts[start : start + self.page_size]
        more = start + self.page_size < len(profile.posts)
        items = [self._item(profile, p) for p in page]
        return 200, feed_page(items, str(start + self.page_size) if more else None)

    @route("GET", r"/api/v1/media/(\d+)/info/")
    def media_info(self, call, pk):
        for profile in self.profiles.values():
            for post in profile.posts:
                if post.pk == int(pk):
                    return 200, {"items": [self._item(profile, post)], "status": "ok"}
        return 400, {"message": "Media not found or unavailable", "status": "fail"}

    @route("GET", r"/media/([A-Za-z0-9_-]+)\.png")
    def image(self, call, code):
        return Response(poster_png(sum(map(ord, code))), media_type="image/png")
