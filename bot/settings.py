"""The one place that reads shopbot's environment.

Every other module receives a :class:`Settings` (or calls :func:`load_settings`)
instead of reading ``os.environ`` itself. Nothing here runs at import time.

This module uses the standard library only, so the Rasa-side package (Python
3.10, its own dependency set) can share it.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional, Tuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

#: The shop's time zone: windows, dates and "today" are counted in it.
SHOP_TZ = ZoneInfo("Asia/Shanghai")

#: The repository root (the folder that holds ``bot/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A variable of the environment holds a value shopbot cannot use."""


@dataclass(frozen=True)
class RefundLimits:
    """The shop's refund-step time limits, in days (``shared/spec/policy.md``).

    Attributes:
        seller_answer_unshipped_days: The seller answers a 仅退款 request for
            an unshipped order within this many days, or it is agreed.
        seller_answer_days: The seller answers any other request within this
            many days, or it is agreed.
        buyer_ship_days: The buyer ships the return within this many days of
            the return address, or the claim closes.
        seller_confirm_days: The seller confirms a shipped return within this
            many days, or it is refunded.
    """

    seller_answer_unshipped_days: int = 2
    seller_answer_days: int = 5
    buyer_ship_days: int = 7
    seller_confirm_days: int = 10


#: Environment variable of each refund limit.
REFUND_LIMIT_VARIABLES = {
    "seller_answer_unshipped_days": "SHOPBOT_SELLER_ANSWER_UNSHIPPED_DAYS",
    "seller_answer_days": "SHOPBOT_SELLER_ANSWER_DAYS",
    "buyer_ship_days": "SHOPBOT_BUYER_SHIP_DAYS",
    "seller_confirm_days": "SHOPBOT_SELLER_CONFIRM_DAYS",
}


@dataclass(frozen=True)
class RabbitMqSettings:
    """Where conversation events go: RabbitMQ, for Rasa's pika event broker and our consumer.

    Attributes:
        host: RabbitMQ's host (``SHOPBOT_RABBITMQ_HOST``).
        port: Its AMQP port (``SHOPBOT_RABBITMQ_PORT``).
        user: The user (``SHOPBOT_RABBITMQ_USER``).
        password: The password (``SHOPBOT_RABBITMQ_PASSWORD``; never logged).
        queue: The durable queue of conversation events (``SHOPBOT_EVENTS_QUEUE``)
            that Rasa's broker publishes to and ``python -m bot.event_consumer``
            consumes.
    """

    host: str = "127.0.0.1"
    port: int = 5672
    user: str = "guest"
    password: str = field(default="guest", repr=False)
    queue: str = "shopbot_events"


#: Longest RabbitMQ queue name (AMQP 0-9-1: a short string).
QUEUE_NAME_MAX_LENGTH = 255


#: Default size limit of an evidence photo: 5 MiB.
DEFAULT_UPLOAD_MAX_BYTES = 5 * 1024 * 1024
#: The largest size limit that may be configured: 50 MiB.
UPLOAD_MAX_BYTES_CEILING = 50 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Configuration of one shopbot process.

    Attributes:
        db_url: SQLAlchemy URL of the order database.
        today_override: The pinned "today" (``SHOPBOT_TODAY``), if any.
        jwt_secret: The configured secret that signs buyer/seller tokens
            (never logged); None means "use the local development secret",
            see :meth:`signing_secret`.
        im_secret: HMAC secret of the store IM channel; None turns it off.
        im_callback_url: Where IM replies are delivered.
        im_worker_url: Base URL of the IM worker (``python -m bot.im_worker``)
            that the Rasa-side IM channel hands inbound messages to.
        rasa_url: Base URL of the Rasa server: the IM worker calls its IM
            channel, the agent assistant its HTTP API (``/model/parse``,
            tracker reads).
        im_backoff: Seconds before the first retry of a failed IM delivery
            and the longest wait between retries (doubling in between).
        agent_token: Bearer token of the agent assistant; None turns it off.
        var_dir: Folder for local state (SQLite file, dev secret).
        policy_file: The after-sales rule table; None: the shipped
            ``bot/policy/rules.yml``.
        refund_limits: The refund-step time limits.
        cors_origins: Web origins (``scheme://host[:port]``) whose pages may
            call the chat channels from a browser (the widget's shops).
        rate_limit: Messages one identity may send per window (0: no limit).
        rate_window_s: The rate limit's window in seconds.
        rasa_token: The Rasa HTTP API's token (``rasa run --auth-token``;
            never logged); None means "use the local development token",
            see :meth:`rasa_api_token`.
        upload_dir: Where buyers' evidence photos are stored (outside any
            web root; ``SHOPBOT_UPLOAD_DIR``, default ``var_dir/uploads``).
        upload_max_bytes: Largest evidence photo accepted, in bytes
            (``SHOPBOT_UPLOAD_MAX_BYTES``, default 5 MiB).
        rabbitmq: RabbitMQ and the queue of conversation events.
    """

    db_url: str
    today_override: Optional[date]
    jwt_secret: Optional[str] = field(repr=False)
    im_secret: Optional[str] = field(default=None, repr=False)
    im_callback_url: Optional[str] = None
    im_worker_url: str = "http://127.0.0.1:5056"
    rasa_url: str = "http://127.0.0.1:5005"
    im_backoff: Tuple[float, float] = (1.0, 300.0)
    agent_token: Optional[str] = field(default=None, repr=False)
    var_dir: Path = PROJECT_ROOT / "var"
    policy_file: Optional[Path] = None
    refund_limits: RefundLimits = field(default_factory=RefundLimits)
    cors_origins: Tuple[str, ...] = ()
    rate_limit: int = 30
    rate_window_s: float = 60.0
    rasa_token: Optional[str] = field(default=None, repr=False)
    upload_dir: Path = PROJECT_ROOT / "var" / "uploads"
    upload_max_bytes: int = DEFAULT_UPLOAD_MAX_BYTES
    rabbitmq: RabbitMqSettings = field(default_factory=RabbitMqSettings)

    def signing_secret(self) -> str:
        """Return the JWT secret, or the local development secret.

        The development secret is kept in ``var_dir`` so that the token
        command, the Rasa server and the tests on one machine agree on it; a
        warning says so once per process.
        """
        if self.jwt_secret is not None:
            return self.jwt_secret
        global _dev_secret_warned
        if not _dev_secret_warned:
            _dev_secret_warned = True
            logger.warning(
                "SHOPBOT_JWT_SECRET is not set: using the local development "
                "secret in %s. Set the variable in production.",
                self.var_dir / "dev_jwt_secret",
            )
        return _dev_secret(self.var_dir)

    @property
    def im_enabled(self) -> bool:
        """Whether the store IM channel is on (its secret and callback URL set)."""
        return bool(self.im_secret and self.im_callback_url)

    def rasa_api_token(self) -> str:
        """Return the Rasa HTTP API token, or the local development one.

        ``make run`` starts Rasa with ``--enable-api --auth-token`` and this
        value; the development token lives in ``var_dir`` like the JWT one.
        """
        if self.rasa_token is not None:
            return self.rasa_token
        return _dev_secret(self.var_dir, "dev_rasa_token")

    def agent_api_token(self) -> str:
        """Return the agent assistant's token, or the local development one.

        The assistant itself is off without ``SHOPBOT_AGENT_TOKEN``; ``make
        run`` sets the variable to this value so that the demo has a console.
        """
        if self.agent_token is not None:
            return self.agent_token
        return _dev_secret(self.var_dir, "dev_agent_token")

    def today(self) -> date:
        """Return today's date in the shop's time zone, or the pinned date."""
        if self.today_override is not None:
            return self.today_override
        return datetime.now(SHOP_TZ).date()

    def now(self) -> datetime:
        """Return the current time in the shop's time zone, on the pinned day if any.

        With ``SHOPBOT_TODAY`` set, the date is the pinned one and the time of
        day the real one, so records made in a demo agree with its "today".
        """
        moment = datetime.now(SHOP_TZ)
        if self.today_override is None:
            return moment
        return datetime.combine(self.today_override, moment.timetz())


_dev_secret_warned = False


def _parse_today(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise SettingsError(f"SHOPBOT_TODAY must be a date as YYYY-MM-DD, got {value!r}") from exc


def _parse_origins(value: str) -> Tuple[str, ...]:
    """Parse ``SHOPBOT_CORS_ORIGINS``: comma-separated ``scheme://host[:port]``."""
    origins = []
    for item in value.split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise SettingsError(
                "SHOPBOT_CORS_ORIGINS must list origins as scheme://host[:port] "
                f"separated by commas, got {item.strip()!r}"
            )
        origins.append(origin.lower())
    return tuple(origins)


def _parse_rate(value: str) -> Tuple[int, float]:
    """Parse ``SHOPBOT_RATE_LIMIT``: ``MESSAGES/SECONDS``, or ``off``."""
    if value.strip().lower() == "off":
        return 0, 60.0
    count, _, window = value.partition("/")
    try:
        limit, seconds = int(count), float(window or "60")
    except ValueError:
        limit, seconds = -1, 0.0
    if limit < 1 or seconds <= 0:
        raise SettingsError(
            f"SHOPBOT_RATE_LIMIT must be MESSAGES/SECONDS (as 30/60) or off, got {value!r}"
        )
    return limit, seconds


def _parse_url(name: str, value: str) -> str:
    """Check that ``value`` is an ``http(s)://host[:port][/path]`` URL."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _parse_backoff(value: str) -> Tuple[float, float]:
    """Parse ``SHOPBOT_IM_BACKOFF``: ``FIRST/LONGEST`` seconds, as ``1/300``."""
    first, _, longest = value.partition("/")
    try:
        base, cap = float(first), float(longest or "300")
    except ValueError:
        base, cap = 0.0, 0.0
    if not (0 < base <= cap):
        raise SettingsError(
            f"SHOPBOT_IM_BACKOFF must be FIRST/LONGEST seconds (as 1/300), got {value!r}"
        )
    return base, cap


def _parse_upload_max(value: Optional[str]) -> int:
    """Parse ``SHOPBOT_UPLOAD_MAX_BYTES``: a whole number of bytes, 1 to 50 MiB."""
    if value is None:
        return DEFAULT_UPLOAD_MAX_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= UPLOAD_MAX_BYTES_CEILING:
        raise SettingsError(
            f"SHOPBOT_UPLOAD_MAX_BYTES must be bytes from 1 to {UPLOAD_MAX_BYTES_CEILING}, "
            f"got {value!r}"
        )
    return limit


def load_rabbitmq_settings(env: Optional[Mapping[str, str]] = None) -> RabbitMqSettings:
    """Read RabbitMQ's address, user and the events queue from the environment.

    Args:
        env: The variables to read; the process environment when omitted.

    Raises:
        SettingsError: A port that is not 1 to 65535, or a bad queue name.
    """
    source: Mapping[str, str] = os.environ if env is None else env
    defaults = RabbitMqSettings()
    port_raw = _optional(source, "SHOPBOT_RABBITMQ_PORT")
    port = defaults.port
    if port_raw is not None:
        if not (port_raw.isascii() and port_raw.isdigit() and 1 <= int(port_raw) <= 65535):
            raise SettingsError(
                f"SHOPBOT_RABBITMQ_PORT must be a port, 1 to 65535, got {port_raw!r}"
            )
        port = int(port_raw)
    queue = _optional(source, "SHOPBOT_EVENTS_QUEUE") or defaults.queue
    if len(queue) > QUEUE_NAME_MAX_LENGTH or not queue.isprintable() or queue.startswith("amq."):
        raise SettingsError(
            "SHOPBOT_EVENTS_QUEUE must be a printable queue name of at most "
            f"{QUEUE_NAME_MAX_LENGTH} characters, not starting with 'amq.'"
        )
    password = source.get("SHOPBOT_RABBITMQ_PASSWORD")
    return RabbitMqSettings(
        host=_optional(source, "SHOPBOT_RABBITMQ_HOST") or defaults.host,
        port=port,
        user=_optional(source, "SHOPBOT_RABBITMQ_USER") or defaults.user,
        password=defaults.password if password is None else password,
        queue=queue,
    )


def _dev_secret(var_dir: Path, name: str = "dev_jwt_secret") -> str:
    """Return a local development secret, creating it on first use.

    The secret lives in the file ``name`` of ``var_dir`` so that the token
    command, the servers and the tests on this machine agree on it.
    """
    path = var_dir / name
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # Write a private temporary file, then link it into place: the link fails
    # if another process got there first, and no reader sees a partial file.
    fd, tmp = tempfile.mkstemp(dir=var_dir, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
    finally:
        os.unlink(tmp)
    return value


def _refund_limits(env: Mapping[str, str]) -> RefundLimits:
    """Read the refund limits (whole days, 1 to 365) from the environment."""
    values: dict[str, int] = {}
    for name, variable in REFUND_LIMIT_VARIABLES.items():
        raw = _optional(env, variable)
        if raw is None:
            continue
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 365):
            raise SettingsError(f"{variable} must be a whole number of days, 1 to 365, got {raw!r}")
        values[name] = int(raw)
    return RefundLimits(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process's settings, read from the environment once.

    Long-running servers call this; tests that change the environment call
    ``get_settings.cache_clear()``.
    """
    return load_settings()


def _optional(env: Mapping[str, str], name: str) -> Optional[str]:
    value = env.get(name, "").strip()
    return value or None


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Read shopbot's settings from the environment.

    Args:
        env: The variables to read; the process environment when omitted.

    Returns:
        The settings.

    Raises:
        SettingsError: A variable holds a value that cannot be used.
    """
    source: Mapping[str, str] = os.environ if env is None else env
    var_dir = Path(source.get("SHOPBOT_VAR_DIR") or PROJECT_ROOT / "var")
    db_url = _optional(source, "SHOPBOT_DB_URL") or (f"sqlite:///{var_dir / 'shopbot.sqlite3'}")
    today_raw = _optional(source, "SHOPBOT_TODAY")
    rate_limit, rate_window_s = _parse_rate(_optional(source, "SHOPBOT_RATE_LIMIT") or "30/60")
    return Settings(
        db_url=db_url,
        today_override=_parse_today(today_raw) if today_raw else None,
        jwt_secret=_optional(source, "SHOPBOT_JWT_SECRET"),
        im_secret=_optional(source, "SHOPBOT_IM_SECRET"),
        im_callback_url=(
            _parse_url("SHOPBOT_IM_CALLBACK_URL", callback)
            if (callback := _optional(source, "SHOPBOT_IM_CALLBACK_URL"))
            else None
        ),
        im_worker_url=_parse_url(
            "SHOPBOT_IM_WORKER_URL",
            _optional(source, "SHOPBOT_IM_WORKER_URL") or "http://127.0.0.1:5056",
        ),
        rasa_url=_parse_url(
            "SHOPBOT_RASA_URL", _optional(source, "SHOPBOT_RASA_URL") or "http://127.0.0.1:5005"
        ),
        im_backoff=_parse_backoff(_optional(source, "SHOPBOT_IM_BACKOFF") or "1/300"),
        agent_token=_optional(source, "SHOPBOT_AGENT_TOKEN"),
        var_dir=var_dir,
        policy_file=Path(policy) if (policy := _optional(source, "SHOPBOT_POLICY_FILE")) else None,
        refund_limits=_refund_limits(source),
        cors_origins=_parse_origins(source.get("SHOPBOT_CORS_ORIGINS", "")),
        rate_limit=rate_limit,
        rate_window_s=rate_window_s,
        rasa_token=_optional(source, "SHOPBOT_RASA_TOKEN"),
        upload_dir=Path(_optional(source, "SHOPBOT_UPLOAD_DIR") or var_dir / "uploads"),
        upload_max_bytes=_parse_upload_max(_optional(source, "SHOPBOT_UPLOAD_MAX_BYTES")),
        rabbitmq=load_rabbitmq_settings(source),
    )
