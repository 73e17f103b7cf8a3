"""Settings from the environment, validated once at start. The only module that reads os.environ."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from cryptography.fernet import Fernet
from limits import parse_many

# The checkout: templates/, migrations/, instance/ and .env live here.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConfigError(RuntimeError):
    """The environment does not describe a runnable service."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _ints(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in _csv(value))


def _optional_port(value: str) -> int:
    """A port, or 0 (off) for an empty value."""
    return int(value) if value.strip() else 0


# HMAC algorithms only: "none" would accept unsigned tokens, and an asymmetric one has no use for a shared secret.
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")

@dataclass(frozen=True)
class Config:
    """Every setting of API.md §7 (and a few of our own), typed.

    Field metadata ``env`` names the variable; defaults mirror `.env.example`.
    """

    DEBUG: bool = field(default=False, metadata={"env": "FLASK_DEBUG", "parse": _bool})
    TESTING: bool = False
    DATABASE_URL: str = ""
    REDIS_URL: str = "redis://localhost:6379/0"
    JWT_SECRET_KEY: str = field(default="", repr=False)
    JWT_ISSUER: str = "mailer"
    JWT_AUDIENCE: str = "mailer-api"
    JWT_ALGORITHM: str = "HS256"
    ACCESS_TOKEN_SECONDS: int = 15 * 60
    REFRESH_TOKEN_SECONDS: int = 30 * 24 * 3600
    VERIFICATION_TOKEN_SECONDS: int = 24 * 3600
    RESET_TOKEN_SECONDS: int = 60 * 60
    PUBLIC_BASE_URL: str = "http://localhost:5000"
    SMTP_HOST: str = "localhost"
    SMTP_PORT: int = 1025
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = field(default="", repr=False)
    SMTP_ENCRYPTION: str = "none"
    SMTP_TIMEOUT_SECONDS: float = 15.0
    SMTP_VERIFY_TLS: bool = True
    SMTP_CA_FILE: str = ""
    # The name sent in EHLO; empty means the host's FQDN. "localhost" is refused outside debug.
    SMTP_HELO_NAME: str = ""
    SMTP_MAX_ATTEMPTS: int = 8
    SMTP_RETRY_DELAYS: tuple[int, ...] = (30, 120, 600, 1800, 3600, 7200, 14400, 28800)
    DELIVERY_LEASE_SECONDS: int = 300
    SWEEP_INTERVAL_SECONDS: int = 60
    DELIVERY_BATCH_SIZE: int = 100
    MAIL_FROM: str = "no-reply@localhost"
    MAIL_FROM_NAME: str = "Mailer"
    CORS_ORIGINS: tuple[str, ...] = ()
    RATELIMIT_ENABLED: bool = True
    RATELIMIT_STORAGE_URI: str = ""
    PROXY_FIX_X_FOR: int = 0
    TENANT_DAILY_QUOTA: int = 10000
    USER_DAILY_QUOTA: int = 500
    # Rate limits (API.md §5), in flask-limiter's notation: "10/minute", "5 per hour".
    RATELIMIT_LOGIN_IP: str = "10/minute"
    RATELIMIT_LOGIN_ACCOUNT: str = "5/minute"
    RATELIMIT_ACCOUNT_MAIL_ADDRESS: str = "5/hour"
    RATELIMIT_ACCOUNT_MAIL_IP: str = "20/hour"
    RATELIMIT_MESSAGES: str = "50/minute"
    RATELIMIT_BROADCASTS: str = "5/hour"
    # Outbound network work done inside a web request, per tenant (N8), and whole batches per sender (N9).
    RATELIMIT_RELAY_TEST: str = "5/minute"
    RATELIMIT_DOMAIN_VERIFY: str = "10/minute"
    RATELIMIT_BATCHES: str = "10/minute"
    MAX_MESSAGE_BYTES: int = 10 * 1024 * 1024
    MAX_RECIPIENTS: int = 100
    LOG_FORMAT: str = ""
    # Languages and the console (API.md §12, §14).
    DEFAULT_LOCALE: str = "en"
    CONSOLE_SESSION_HOURS: float = 12.0
    DEVMAIL_DIR: str = ""
    METRICS_TOKEN: str = field(default="", repr=False)
    # Feedback (API.md §8): the VERP return-path domain and the inbound receiver's address.
    BOUNCE_DOMAIN: str = ""
    INBOUND_SMTP_HOST: str = "127.0.0.1"
    INBOUND_SMTP_PORT: int = 2525
    # PEM files for the receiver's STARTTLS; empty: a self-signed pair made at start (MTAs encrypt, rarely verify).
    INBOUND_TLS_CERT: str = ""
    INBOUND_TLS_KEY: str = ""
    # Fernet keys, newest first, that encrypt stored secrets; in debug an empty value means instance/secrets.key.
    SECRETS_KEY: tuple[str, ...] = field(default=(), repr=False)
    DNS_RESOLVERS: tuple[str, ...] = ()
    WEBHOOK_TIMEOUT_SECONDS: float = 10.0
    WEBHOOK_RETRY_DELAYS: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    WEBHOOK_ALLOW_PRIVATE: bool = False
    RELAY_ALLOW_PRIVATE: bool = False
    # The ports a tenant relay may use (RELAY_ALLOW_PRIVATE lifts it): not a port scanner of the Internet (N10).
    RELAY_PORTS: tuple[int, ...] = (25, 465, 587, 2525)
    MESSAGE_RETENTION_DAYS: int = 30
    # SMTP submission (API.md §13): STARTTLS port, implicit-TLS port (0 or empty: off), TLS pair, bounds.
    SUBMISSION_SMTP_HOST: str = "127.0.0.1"
    SUBMISSION_SMTP_PORT: int = 2587
    SUBMISSION_SMTPS_PORT: int = field(default=2465, metadata={"parse": _optional_port})
    SUBMISSION_TLS_CERT: str = ""
    SUBMISSION_TLS_KEY: str = field(default="", repr=False)
    SUBMISSION_MAX_SESSIONS: int = 100
    SUBMISSION_MAX_PER_CLIENT: int = 10
    SUBMISSION_IDLE_TIMEOUT_SECONDS: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Config:
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = spec.metadata.get("env", spec.name)
            if name in environ:
                values[spec.name] = _parse(spec, environ[name])
        values.update(overrides or {})
        return cls(**values)

    def __post_init__(self) -> None:
        if self.SMTP_ENCRYPTION not in {"none", "starttls", "ssl"}:
            raise ConfigError("SMTP_ENCRYPTION must be none, starttls or ssl")
        if not self.SMTP_RETRY_DELAYS:
            raise ConfigError("SMTP_RETRY_DELAYS needs at least one delay")
        if self.SMTP_MAX_ATTEMPTS < 1:
            raise ConfigError("SMTP_MAX_ATTEMPTS must be at least 1")
        if self.DELIVERY_LEASE_SECONDS < 1 or self.SWEEP_INTERVAL_SECONDS < 1 or self.DELIVERY_BATCH_SIZE < 1:
            raise ConfigError("DELIVERY_LEASE_SECONDS, SWEEP_INTERVAL_SECONDS and DELIVERY_BATCH_SIZE must be positive")
        if self.JWT_ALGORITHM not in JWT_ALGORITHMS:
            raise ConfigError(f"JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)} (tokens are HMAC-signed)")
        if self.JWT_SECRET_KEY and len(self.JWT_SECRET_KEY.encode()) < 32:
            raise ConfigError("JWT_SECRET_KEY must be at least 32 bytes")
        if not self.JWT_SECRET_KEY and not (self.DEBUG or self.TESTING):
            raise ConfigError("JWT_SECRET_KEY is required (at least 32 bytes) outside debug")
        _check_rate_limits(self)
        _check_cors_origins(self.CORS_ORIGINS)
        if self.DEFAULT_LOCALE not in ("en", "zh-CN"):
            raise ConfigError("DEFAULT_LOCALE must be en or zh-CN")
        if self.CONSOLE_SESSION_HOURS <= 0:
            raise ConfigError("CONSOLE_SESSION_HOURS must be positive")
        if self.PROXY_FIX_X_FOR < 0:
            raise ConfigError("PROXY_FIX_X_FOR must be 0 or more")
        if self.TENANT_DAILY_QUOTA < 0 or self.USER_DAILY_QUOTA < 0:
            raise ConfigError("TENANT_DAILY_QUOTA and USER_DAILY_QUOTA must be 0 or more")
        if self.SMTP_HELO_NAME.strip().lower().rstrip(".") in {"localhost", "localhost.localdomain"} and not (
            self.DEBUG or self.TESTING
        ):
            raise ConfigError("SMTP_HELO_NAME must name this host, not localhost, outside debug")
        if not self.SECRETS_KEY and not (self.DEBUG or self.TESTING):
            raise ConfigError("SECRETS_KEY is required outside debug (Fernet keys, comma-separated, newest first)")
        _check_fernet_keys(self.SECRETS_KEY)
        if self.MESSAGE_RETENTION_DAYS < 1:
            raise ConfigError("MESSAGE_RETENTION_DAYS must be at least 1")
        if self.WEBHOOK_TIMEOUT_SECONDS <= 0:
            raise ConfigError("WEBHOOK_TIMEOUT_SECONDS must be positive")
        if bool(self.INBOUND_TLS_CERT) != bool(self.INBOUND_TLS_KEY):
            raise ConfigError("INBOUND_TLS_CERT and INBOUND_TLS_KEY are set together (or both left empty)")
        if (self.SUBMISSION_MAX_SESSIONS < 1 or self.SUBMISSION_MAX_PER_CLIENT < 1
                or self.SUBMISSION_IDLE_TIMEOUT_SECONDS <= 0):
            raise ConfigError("SUBMISSION_MAX_SESSIONS, SUBMISSION_MAX_PER_CLIENT and "
                              "SUBMISSION_IDLE_TIMEOUT_SECONDS must be positive")
        if bool(self.SUBMISSION_TLS_CERT) != bool(self.SUBMISSION_TLS_KEY):
            raise ConfigError("SUBMISSION_TLS_CERT and SUBMISSION_TLS_KEY go together")

    def finalize(self, instance_path: str) -> Config:
        """Fill the defaults that depend on where the app lives or on other settings."""
        updates: dict[str, Any] = {}
        if not self.DATABASE_URL:
            updates["DATABASE_URL"] = f"sqlite:///{os.path.join(instance_path, 'mailer.db')}"
        if not self.JWT_SECRET_KEY:
            updates["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)  # debug only: a fresh key per run
        if not self.RATELIMIT_STORAGE_URI:
            updates["RATELIMIT_STORAGE_URI"] = self.REDIS_URL
        if not self.LOG_FORMAT:
            updates["LOG_FORMAT"] = "text" if self.DEBUG or self.TESTING else "json"
        if not self.DEVMAIL_DIR:
            updates["DEVMAIL_DIR"] = os.path.join(instance_path, "devmail")
        if not self.SECRETS_KEY:
            updates["SECRETS_KEY"] = (_development_secrets_key(instance_path),)  # debug/testing only (__post_init__)
        return replace(self, **updates) if updates else self

    def startup_warnings(self) -> list[str]:
        """Settings that work but expose something, logged at every start outside debug (L15)."""
        if self.DEBUG or self.TESTING:
            return []
        warnings = []
        if self.SMTP_ENCRYPTION == "none" and not _is_loopback(self.SMTP_HOST):
            warnings.append(f"SMTP_ENCRYPTION=none: mail (password-reset and verification links included) goes to "
                            f"{self.SMTP_HOST} in clear; set SMTP_ENCRYPTION=starttls or ssl")
        return warnings

    def flask_settings(self) -> dict[str, Any]:
        """The subset Flask and its extensions read from app.config."""
        return {
            "SQLALCHEMY_DATABASE_URI": self.DATABASE_URL,
            # hide_parameters: a database error's text must not carry the bound values (password hashes)
            # into logs or into the exc_info RQ keeps in Redis.
            # No pool_pre_ping: extensions.ping_after_idle pings only connections idle for a while.
            "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
            # A request may carry a whole message with base64 attachments (4/3 of their size) and JSON around it.
            "MAX_CONTENT_LENGTH": self.MAX_MESSAGE_BYTES * 3 // 2 + 1024 * 1024,
            "RATELIMIT_ENABLED": self.RATELIMIT_ENABLED,
            "RATELIMIT_STORAGE_URI": self.RATELIMIT_STORAGE_URI,
            "TESTING": self.TESTING,
            "DEBUG": self.DEBUG,
            "MAILER": self,
        }


def _is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_rate_limits(config: Config) -> None:
    for spec in fields(config):
        if spec.name.startswith("RATELIMIT_") and spec.type == "str" and spec.name != "RATELIMIT_STORAGE_URI":
            try:
                parse_many(getattr(config, spec.name))
            except ValueError as exc:
                raise ConfigError(f"{spec.name}: {exc}") from exc


def _check_cors_origins(origins: tuple[str, ...]) -> None:
    """Exact origins only (scheme://host[:port]); no wildcard, no path."""
    for origin in origins:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise ConfigError(f"CORS_ORIGINS: {origin!r} is not an exact origin like https://app.example.com")


def _check_fernet_keys(keys: tuple[str, ...]) -> None:
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"SECRETS_KEY: key {position} is not a Fernet key (32 url-safe base64 bytes)") from exc


def _development_secrets_key(instance_path: str) -> str:
    """One key per checkout, kept in the instance folder, so web and worker processes read each other's secrets.

    Only reached in debug or testing: outside them SECRETS_KEY is required.
    """
    path = os.path.join(instance_path, "secrets.key")
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        key = Fernet.generate_key().decode("ascii")
        os.makedirs(instance_path, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key)
        return key


def _parse(spec: Any, raw: str) -> Any:
    parser = spec.metadata.get("parse")
    if parser is None:
        parser = {
            "bool": _bool, "int": int, "float": float, "str": str,
            "tuple[str, ...]": _csv, "tuple[int, ...]": _ints,
        }[str(spec.type)]
    try:
        return parser(raw)
    except ValueError as exc:
        raise ConfigError(f"{spec.metadata.get('env', spec.name)}: {exc}") from exc


def load_config(overrides: Mapping[str, Any] | None = None) -> Config:
    return Config.from_env(os.environ, overrides)
