"""Reading Instagram profiles and posts for the catalog: an interface and its instagrapi gateway.

Instagram's private API answers a tired session with 401, "Please wait a few minutes" or a rate
limit, and instagrapi's ``user_medias*`` turn a 401 or a plain 429 into an empty list. So this
gateway calls the feed endpoint through ``private_request`` (errors surface), treats an empty
first page from a profile known to have posts as a failure, waits ``throttle_wait_seconds``
(5 minutes) between attempts, and gives up after ``max_attempts`` (10) with a clear error.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
from pydantic import PrivateAttr

from lomba_pipeline.resources.instagram_client import (
    Credentials,
    InstagramNotConfigured,
    InstagramSessions,
    secret_box_of,
)
from lomba_pipeline.secrets_box import EncryptionKey

log = logging.getLogger(__name__)

__all__ = [
    "IgPost",
    "InstagramProfileReader",
    "InstagramNotConfigured",
    "InstagramReader",
    "InstagramUnavailable",
    "InstagrapiProfileReader",
    "EmptyFeedFromActiveProfile",
]


@dataclass(frozen=True)
class IgPost:
    shortcode: str
    pk: str
    username: str
    caption: str
    image_url: str | None
    taken_at: datetime
    payload: dict = field(default_factory=dict, compare=False)

    @property
    def url(self) -> str:
        return f"https://www.instagram.com/p/{self.shortcode}/"


class InstagramUnavailable(RuntimeError):
    """Instagram kept refusing (401 / please wait / rate limit) through every attempt."""


class EmptyFeedFromActiveProfile(RuntimeError):
    """The feed came back empty for a profile that has posts: a silent 401, not 'nothing new'."""


class InstagramProfileReader(ABC):
    @abstractmethod
    def recent_posts(
        self, profile: str, since: datetime, until: datetime, *, known_active: bool = False
    ) -> list[IgPost]:
        """Posts of ``profile`` taken in ``[since, until)``, newest first."""

    @abstractmethod
    def post(self, shortcode: str) -> IgPost:
        """One post by its shortcode (manual links)."""


@dataclass
class ThrottlePolicy:
    wait_seconds: float = 300.0
    max_attempts: int = 10
    sleep: Callable[[float], None] = time.sleep
    on_wait: Callable[[int, Exception], None] | None = None


def _retryable_errors() -> tuple[type[Exception], ...]:
    from instagrapi import exceptions as ig

    return (
        ig.PleaseWaitFewMinutes,
        ig.RateLimitError,
        ig.ClientThrottledError,
        ig.ClientUnauthorizedError,
        EmptyFeedFromActiveProfile,
    )


class InstagrapiProfileReader(InstagramProfileReader):
    PAGE_SIZE = 33

    def __init__(
        self,
        sessions: InstagramSessions,
        username: str,
        credentials: Credentials | None,
        policy: ThrottlePolicy | None = None,
        max_posts: int = 36,
    ):
        self.sessions = sessions
        self.username = username
        self.credentials = credentials
        self.policy = policy or ThrottlePolicy()
        self.max_posts = max_posts
        self._client = None

    # -- plumbing --------------------------------------------------------------------------------
    def client(self):
        if self._client is None:
            # InstagramSessions keeps the pacing, also across instagrapi's login resets
            self._client = self.sessions.client_for(self.username, self.credentials)
        return self._client

    def _with_retries(self, what: str, call):
        """``call(client)`` with relogin on LoginRequired and waits on throttling."""
        from instagrapi.exceptions import LoginRequired

        retryable = _retryable_errors()
        relogged = False
        last: Exception | None = None
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                result = call(self.client())
                self.sessions.save(self.username, self.client())
                return result
            except LoginRequired:
                if relogged or not self.credentials:
                    raise
                relogged = True
                self._client = self.sessions.login(
                    self.username, self.credentials, previous=self._client
                )
                continue
            except retryable as exc:
                last = exc
                if attempt == self.policy.max_attempts:
                    break
                if self.policy.on_wait:
                    self.policy.on_wait(attempt, exc)
                self.policy.sleep(self.policy.wait_seconds)
        raise InstagramUnavailable(
            f"{what}: Instagram still refused after {self.policy.max_attempts} attempts "
            f"{self.policy.wait_seconds:g} s apart (last: {type(last).__name__}: {_short(last)})"
        )

    # -- reading ---------------------------------------------------------------------------------
    def recent_posts(
        self, profile: str, since: datetime, until: datetime, *, known_active: bool = False
    ) -> list[IgPost]:
        def fetch(client) -> list[IgPost]:
            user = client.private_request(f"users/{profile}/usernameinfo/")["user"]
            user_id = int(user["pk"])
            has_posts = known_active or int(user.get("media_count") or 0) > 0
            posts: list[IgPost] = []
            seen = 0
            max_id = ""
            while seen < self.max_posts:
                page = client.private_request(
                    f"feed/user/{user_id}/",
                    params={
                        "max_id": max_id,
                        "count": self.PAGE_SIZE,
                        "rank_token": client.rank_token,
                        "ranked_content": "true",
                    },
                )
                items = page.get("items") or []
                if not items and seen == 0 and has_posts:
                    raise EmptyFeedFromActiveProfile(
                        f"@{profile} has posts but its feed came back empty"
                    )
                reached_older = False
                for item in items:
                    seen += 1
                    post = _post_from_item(item, profile)
                    if post.taken_at >= until:
                        continue
                    if post.taken_at < since:
                        # feeds are newest first; pinned posts can be older, so keep scanning
                        # this page but stop paging
                        reached_older = True
                        continue
                    posts.append(post)
                max_id = page.get("next_max_id") or ""
                if reached_older or not page.get("more_available") or not max_id:
                    break
            return posts

        return self._with_retries(f"@{profile}", fetch)

    def post(self, shortcode: str) -> IgPost:
        def fetch(client) -> IgPost:
            pk = client.media_pk_from_code(shortcode)
            items = client.private_request(f"media/{pk}/info/").get("items") or []
            if not items:
                raise LookupError(f"Instagram post {shortcode} was not found")
            return _post_from_item(items[0], None)

        return self._with_retries(f"post {shortcode}", fetch)


def _post_from_item(item: dict, profile: str | None) -> IgPost:
    from instagrapi.extractors import extract_media_v1

    media = extract_media_v1(item)
    image = media.thumbnail_url or (media.resources[0].thumbnail_url if media.resources else None)
    taken = media.taken_at
    if taken.tzinfo is None:
        taken = taken.replace(tzinfo=UTC)
    return IgPost(
        shortcode=media.code,
        pk=str(media.pk),
        username=media.user.username if media.user else (profile or ""),
        caption=media.caption_text or "",
        image_url=str(image) if image else None,
        taken_at=taken,
        payload={
            "pk": str(media.pk),
            "code": media.code,
            "media_type": media.media_type,
            "like_count": media.like_count,
            "comment_count": media.comment_count,
            "taken_at": taken.isoformat(),
        },
    )


def _short(exc: Exception | None) -> str:
    text = str(exc or "").strip().splitlines()
    return (text[0] if text else "")[:160]


class InstagramReader(dg.ConfigurableResource):
    """Dagster resource: builds the gateway for the scraper account (resource key ``instagram``).

    Unconfigured (no scraper username) is a normal state: IG sources are then skipped with a
    message saying which setting is missing.
    """

    scraper_username: str | None = None
    scraper_password: str | None = None
    scraper_sessionid: str | None = None
    api_base_url: str | None = None
    request_delay_seconds: float = 1.0
    throttle_wait_seconds: float = 300.0
    max_attempts: int = 10
    encryption: EncryptionKey | None = None  # sessions are stored encrypted with it

    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)

    def not_configured_reason(self) -> str | None:
        """Why IG sources cannot be read, or None when they can be tried."""
        if not self.scraper_username:
            return (
                "Instagram is not configured: set LOMBA_IG_SCRAPER_USERNAME and "
                "LOMBA_IG_SCRAPER_SESSIONID (or LOMBA_IG_SCRAPER_PASSWORD)"
            )
        return None

    def gateway(self, postgres, on_wait=None, max_posts: int = 36) -> InstagramProfileReader:
        reason = self.not_configured_reason()
        if reason:
            raise InstagramNotConfigured(reason)
        sessions = InstagramSessions.for_pipeline(
            postgres,
            secret_box_of("instagram", self.encryption),
            api_base_url=self.api_base_url,
            request_delay_seconds=self.request_delay_seconds,
        )
        credentials = None
        if self.scraper_password or self.scraper_sessionid:
            credentials = Credentials(
                password=self.scraper_password, sessionid=self.scraper_sessionid
            )
        policy = ThrottlePolicy(
            wait_seconds=self.throttle_wait_seconds,
            max_attempts=self.max_attempts,
            sleep=self._sleep,
            on_wait=on_wait,
        )
        return InstagrapiProfileReader(
            sessions, self.scraper_username, credentials, policy, max_posts=max_posts
        )


def instagram_reader_from_settings(settings, encryption: EncryptionKey) -> InstagramReader:
    return InstagramReader(
        encryption=encryption,
        scraper_username=settings.instagram.scraper_username,
        scraper_password=dg.EnvVar("LOMBA_IG_SCRAPER_PASSWORD")
        if settings.instagram.scraper_password
        else None,
        scraper_sessionid=dg.EnvVar("LOMBA_IG_SCRAPER_SESSIONID")
        if settings.instagram.scraper_sessionid
        else None,
        api_base_url=settings.instagram.api_base_url,
        request_delay_seconds=settings.instagram.request_delay_seconds,
    )
