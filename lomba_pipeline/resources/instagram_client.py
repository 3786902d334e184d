"""instagrapi clients with sessions kept in Postgres (encrypted), shared by every IG feature.

One place decides how a client is built: headless (no challenge prompt on stdin), the requests
transport, sessions reused across processes and machines, a fresh login only when there is no
session or Instagram says the session is gone. ``api_base_url`` sends all Instagram traffic to
another server (a local fake in tests and the offline demo) through a transport adapter, because
instagrapi hard-codes ``https://i.instagram.com``.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

from lomba_pipeline.db.ig_sessions import load_session, record_session_error, save_session
from lomba_pipeline.secrets_box import EncryptionKey, EncryptionKeyMissing, SecretBox


class InstagramNotConfigured(RuntimeError):
    """No stored session and no credentials for an account."""


class _RedirectAdapter(HTTPAdapter):
    """Rewrite https://<any instagram host>/path?query to <base>/path?query."""

    def __init__(self, base_url: str):
        super().__init__(max_retries=0)
        self.base_url = base_url.rstrip("/")

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


@dataclass(frozen=True)
class Credentials:
    password: str | None = field(default=None, repr=False)
    sessionid: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ClientOptions:
    api_base_url: str | None = None
    # instagrapi sleeps this long before every private request (its own politeness)
    request_delay_seconds: float = 1.0
    delay_range: tuple[float, float] | None = (1.0, 3.0)
    proxy: str | None = None


def build_client(options: ClientOptions, stored_settings: dict | None = None):
    from instagrapi import Client

    client = Client(private_transport="requests", with_challenge_flow=False, proxy=options.proxy)
    if stored_settings:
        client.set_settings(stored_settings)
    client.request_timeout = options.request_delay_seconds
    client.delay_range = list(options.delay_range) if options.delay_range else None
    if options.api_base_url:
        _redirect(client, _RedirectAdapter(options.api_base_url))
    return client


def _redirect(client, adapter: _RedirectAdapter) -> None:
    """Mount the adapter now and again whenever instagrapi re-creates its HTTP sessions
    (``init()`` runs on set_settings and on login_by_sessionid)."""
    client.private.mount("https://", adapter)
    client.public.mount("https://", adapter)
    original_init = client.init

    def init_then_redirect(*args, **kwargs):
        result = original_init(*args, **kwargs)
        client.private.mount("https://", adapter)
        client.public.mount("https://", adapter)
        return result

    client.init = init_then_redirect


class InstagramSessions:
    """Clients per username, their sessions stored encrypted in ``ig_sessions``."""

    def __init__(
        self, postgres, box: SecretBox, options: ClientOptions, pacing_seconds: float = 0.0
    ):
        self.postgres = postgres
        self.box = box
        self.options = options
        self.pacing_seconds = pacing_seconds  # > 0: requests take turns (RequestPacer)

    @classmethod
    def for_pipeline(
        cls, postgres, box: SecretBox, *, api_base_url: str | None, request_delay_seconds: float
    ) -> "InstagramSessions":
        """Sessions encrypted with the project's key. Consecutive requests of an account are
        ``delay`` + a random 1-3x ``delay`` apart, across processes (``RequestPacer``), instead
        of instagrapi sleeping that long before every request of its own process."""
        return cls(
            postgres,
            box,
            ClientOptions(api_base_url=api_base_url, request_delay_seconds=0, delay_range=None),
            pacing_seconds=request_delay_seconds,
        )

    def _client(self, username: str, stored_settings: dict | None):
        client = build_client(self.options, stored_settings)
        if self.pacing_seconds > 0:
            from lomba_pipeline.resources.instagram_pacing import RequestPacer, pace

            pace(client, RequestPacer(self.postgres, username, self.pacing_seconds))
        return client

    def client_for(self, username: str, credentials: "Credentials | None" = None):
        """A client for ``username``: the stored session, else a fresh login."""
        with self.postgres.connection() as conn:
            stored = load_session(conn, self.box, username)
        if stored is not None:
            return self._client(username, stored)
        if credentials is None or not (credentials.password or credentials.sessionid):
            raise InstagramNotConfigured(
                f"no Instagram session stored for {username!r} and no credentials configured"
            )
        return self.login(username, credentials)

    def login(self, username: str, credentials: "Credentials", previous=None):
        """Fresh login, keeping the device identity of ``previous`` when given.

        A session id (copied from a logged-in browser) avoids the password flow and its
        challenges; otherwise instagrapi's password login runs, headless.
        """
        stored = {"uuids": previous.get_settings().get("uuids", {})} if previous else None
        # same device as before: Instagram distrusts a new device on every login
        client = self._client(username, stored)
        try:
            if credentials.sessionid:
                client.login_by_sessionid(credentials.sessionid)
            else:
                client.login(username, credentials.password)
        except Exception as exc:
            with self.postgres.connection() as conn:
                record_session_error(conn, username, f"login failed: {type(exc).__name__}")
            raise
        # instagrapi's login resets its per-request pause: keep ours
        client.request_timeout = self.options.request_delay_seconds
        self.save(username, client, logged_in=True)
        return client

    def save(self, username: str, client, *, logged_in: bool = False) -> None:
        with self.postgres.connection() as conn:
            save_session(conn, self.box, username, client.get_settings(), logged_in=logged_in)


def secret_box_of(resource_name: str, encryption: EncryptionKey | None) -> SecretBox:
    """The box of a resource's nested ``encryption`` key, or a clear error naming the resource."""
    if encryption is None:
        raise EncryptionKeyMissing(
            f"{resource_name}: built without an encryption key (encryption=EncryptionKey(...))"
        )
    return encryption.box()
