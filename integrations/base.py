"""The integration API from the seed: ``BaseIntegration`` and ``IntegrationMetadata``.

An integration written exactly as the seed shows works here unchanged::

    class WeatherGetForecastIntegration(BaseIntegration):
        @property
        def metadata(self) -> IntegrationMetadata:
            return IntegrationMetadata(id="weather_get_forecast", version="1.0.0", ...)

        async def execute(self, config, credentials_resolver, bot_id, logger):
            creds = await credentials_resolver.get_default_for(
                bot_id=bot_id, provider="weather", strategy="api_key")
            ...
            return {"response": {"ok": True, "result": {...}}}

On top of the seed's fields, metadata declares what the processor needs to act
safely (side effects, idempotency keys, timeout, attempts, rate limits); each has a
default, so seed-style code needs none of them.
"""

from __future__ import annotations

import abc
import re
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from integrations.bot_logger import BotLogger
from integrations.validation import check_config_schema, validate_config

if TYPE_CHECKING:
    from integrations.resources import Resources

__all__ = [
    "BaseIntegration",
    "Category",
    "CredentialsResolverLike",
    "CredentialsStrategy",
    "IntegrationMetadata",
    "RateLimit",
    "RateLimitScope",
    "SideEffect",
    "UnknownOutcomePolicy",
    "parse_version",
]


class Category(StrEnum):
    """The seed's twelve integration categories."""

    MESSAGING = "messaging"
    AI = "ai"
    STORAGE = "storage"
    WEATHER = "weather"
    MAPS = "maps"
    PAYMENTS = "payments"
    CRM = "crm"
    ECOMMERCE = "ecommerce"
    EDUCATION = "education"
    MEDICINE = "medicine"
    NEWS = "news"
    TRANSLATION = "translation"


class CredentialsStrategy(StrEnum):
    """How an integration authenticates; ``NONE`` for public services (no credentials)."""

    API_KEY = "api_key"
    OAUTH = "oauth"
    BASIC = "basic"
    NONE = "none"


class SideEffect(StrEnum):
    """What running the action twice does; decides redelivery after a crash mid-call."""

    NONE = "none"  # read-only (weather lookup): always safe to re-run
    IDEMPOTENT = "idempotent"  # same result when repeated (PUT, provider idempotency keys)
    NON_IDEMPOTENT = "non_idempotent"  # repeating repeats the effect (a second message)


class UnknownOutcomePolicy(StrEnum):
    """For ``NON_IDEMPOTENT`` actions whose outcome is unknown after a crash mid-call."""

    REEXECUTE = "reexecute"  # at-least-once: run again, a duplicate is acceptable
    REPORT = "report"  # at-most-once: publish OUTCOME_UNKNOWN for an operator


class RateLimitScope(StrEnum):
    """What a rate limit counts against."""

    CREDENTIAL = "credential"  # per credential (e.g. per bot token: 30 msg/s)
    TARGET = "target"  # per target named by a config field (e.g. per chat_id: 1 msg/s)


@runtime_checkable
class CredentialsResolverLike(Protocol):
    """What an integration may ask of the credentials resolver (the seed's one call).

    ``integrations.credentials.CredentialsResolver`` satisfies it; tests pass stubs.
    """

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None: ...


_ID_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
# The official semver.org 2.0.0 expression.
_SEMVER_RE = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

VersionKey = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


@lru_cache(maxsize=4096)  # the registry sorts versions on every unpinned lookup
def parse_version(version: str) -> VersionKey:
    """Parse a semantic version into a key that sorts by semver 2.0 precedence.

    Build metadata is ignored (as semver says); a release sorts after its pre-releases.
    Raises ``ValueError`` for anything that is not ``MAJOR.MINOR.PATCH[-pre][+build]``.
    """
    match = _SEMVER_RE.match(version) if isinstance(version, str) else None
    if match is None:
        raise ValueError(
            f"version {version!r} is not a semantic version; use MAJOR.MINOR.PATCH, "
            "e.g. '1.0.0' or '2.1.0-beta.1' (https://semver.org)"
        )
    pre = match["pre"]
    # Numeric identifiers sort before alphanumeric ones and compare as numbers.
    ids = (
        tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    )
    return (int(match["major"]), int(match["minor"]), int(match["patch"]), 0 if pre else 1, ids)


class RateLimit(BaseModel):
    """At most ``limit`` executions per ``period_s`` seconds, per credential or per target.

    For ``scope="target"``, ``target_field`` names the config field holding the target,
    e.g. ``RateLimit(scope="target", limit=1, period_s=1, target_field="chat_id")``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: RateLimitScope
    limit: int = Field(gt=0)
    period_s: float = Field(gt=0)
    target_field: str | None = None

    @model_validator(mode="after")
    def _target_needs_field(self) -> Self:
        if self.scope is RateLimitScope.TARGET and not self.target_field:
            raise ValueError(
                "rate limit with scope='target' needs target_field, the config field that "
                "names the target, e.g. target_field='chat_id'"
            )
        if self.scope is RateLimitScope.CREDENTIAL and self.target_field:
            raise ValueError(
                f"rate limit with scope='credential' must not set target_field "
                f"(got {self.target_field!r}); use scope='target' to limit per target"
            )
        return self


class IntegrationMetadata(BaseModel):
    """Everything the registry, the catalogue and the processor know about an integration.

    Construct with keyword arguments as the seed does; every field is validated here, so
    a bad value fails when the integration registers, with a message naming the field,
    the value and the fix. Instances are frozen.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    # --- the seed's fields ---
    id: str
    version: str
    name: str = Field(min_length=1)
    description: str
    category: Category
    icon_s3_key: str | None = None
    color: str = "#6B7280"
    config_schema: dict[str, Any]
    credentials_provider: str | None = None
    credentials_strategy: CredentialsStrategy = CredentialsStrategy.API_KEY
    library_name: str | None = None

    # --- what the processor needs to act safely (defaults are the safe assumption) ---
    side_effect: SideEffect = SideEffect.NON_IDEMPOTENT
    supports_idempotency_key: bool = False
    timeout_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    on_unknown_outcome: UnknownOutcomePolicy = UnknownOutcomePolicy.REPORT
    rate_limits: tuple[RateLimit, ...] = ()
    idempotency_window_s: float | None = None
    """How long the provider honours our idempotency key (Stripe and YooKassa: 24 h, PayPal's
    ``PayPal-Request-Id``: 6 h); ``None``: no limit, or no key. A replay older than this is
    treated as non-idempotent (``topics/replay.py``)."""

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(
                f"id {value!r} must be '{{service}}_{{action}}' in lowercase snake case with "
                "at least one underscore, e.g. 'telegram_send_message'"
            )
        return value

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        parse_version(value)  # its ValueError already names the value and the fix
        return value

    @field_validator("idempotency_window_s")
    @classmethod
    def _check_window(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(
                f"idempotency_window_s {value!r} must be a positive number of seconds (e.g. "
                "86400 for a provider that keeps idempotency keys 24 h), or None for no limit"
            )
        return value

    @field_validator("color")
    @classmethod
    def _check_color(cls, value: str) -> str:
        if not _COLOR_RE.match(value):
            raise ValueError(f"color {value!r} must be '#RRGGBB' (six hex digits), e.g. '#229ED9'")
        return value

    @field_validator("category", mode="before")
    @classmethod
    def _check_category(cls, value: object) -> object:
        # Pydantic's own enum message lacks the "category" word and a hint; say both.
        allowed = [c.value for c in Category]
        if value not in allowed:
            raise ValueError(f"category {value!r} is not one of the seed's categories: {allowed}")
        return value

    @field_validator("credentials_strategy", mode="before")
    @classmethod
    def _check_strategy(cls, value: object) -> object:
        allowed = [s.value for s in CredentialsStrategy]
        if value not in allowed:
            raise ValueError(f"credentials_strategy {value!r} must be one of {allowed}")
        return value

    @field_validator("config_schema", mode="before")
    @classmethod
    def _check_schema(cls, value: object) -> object:
        check_config_schema(value)
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> Self:
        needs = self.credentials_strategy is not CredentialsStrategy.NONE
        if needs and not self.credentials_provider:
            raise ValueError(
                f"credentials_provider {self.credentials_provider!r} is required when "
                f"credentials_strategy is {self.credentials_strategy.value!r}; set "
                "credentials_provider='<service>' or credentials_strategy='none'"
            )
        return self

    @property
    def service(self) -> str:
        """The part of ``id`` before the first underscore, e.g. ``telegram``."""
        return self.id.split("_", 1)[0]

    @property
    def key(self) -> str:
        """``id@version``, the registry's unique key."""
        return f"{self.id}@{self.version}"

    def validate_config(self, config: object) -> None:
        """Raise :class:`~integrations.errors.InvalidConfigError` unless ``config`` fits
        ``config_schema``; the message lists every problem with its JSON path."""
        validate_config(self.config_schema, config, integration_id=self.id)

    def policy(self) -> dict[str, Any]:
        """The execution policy as JSON-ready data (for the catalogue and logs)."""
        return self.model_dump(
            mode="json",
            include={
                "side_effect",
                "supports_idempotency_key",
                "timeout_s",
                "max_attempts",
                "on_unknown_outcome",
                "rate_limits",
                "idempotency_window_s",
            },
        )


class BaseIntegration(abc.ABC):
    """One action against one external service (the seed's base class).

    Subclasses provide ``metadata`` and ``execute``. ``execute`` returns the seed's
    envelope, ``{"response": {"ok": True, "result": ...}}`` or
    ``{"response": {"ok": False, "error_code": N, "description": ...}}``, or raises an
    :mod:`integrations.errors` exception; the processor classifies both forms.

    ``calls_through_seams`` is true for integrations whose every provider request goes through
    the worker's HTTP seams (:mod:`integrations.http`, the Telegram backend): the idempotency
    claim is then taken at the moment a request leaves instead of before ``execute``.
    """

    calls_through_seams: ClassVar[bool] = False

    def bind(self, resources: Resources) -> None:  # noqa: B027 - optional hook, empty by default
        """Receive the worker's shared clients at start-up; takes nothing by default."""

    @property
    @abc.abstractmethod
    def metadata(self) -> IntegrationMetadata:
        """Static description of this integration; validated when it registers."""

    @abc.abstractmethod
    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        """Run the action once with an already-validated ``config``.

        ``bot_id`` arrives as a string from Kafka; pass it on to the resolver as is.
        Log only through ``logger``: it redacts credentials.
        """
