"""Execute one decoded request: look up, validate, run with a timeout, classify.

Everything an integration can do wrong ends up as an :class:`~integrations.outcome.Outcome`;
nothing raises out of :meth:`Executor.run`, so the stream never stops on one request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from integrations.base import CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import BotLogger, SecretSet
from integrations.context import RequestContext, SendGateLike, executing
from integrations.errors import DeadlineExpiredError, IntegrationError, InvalidConfigError
from integrations.outcome import Outcome, classify
from integrations.registry import IntegrationRegistry, RegisteredIntegration
from schemas import IntegrationRequest, utc_now

log = logging.getLogger("actionstream.executor")


@dataclass(frozen=True, slots=True)
class Execution:
    """What running one request came to, with when it ran."""

    outcome: Outcome
    metadata: IntegrationMetadata | None
    started_at: datetime | None
    finished_at: datetime


@dataclass(slots=True)
class Prepared:
    """A request that passed every check and can be executed."""

    request: IntegrationRequest
    entry: RegisteredIntegration
    config: dict[str, Any]
    attempt: int = 0
    request_id: str = field(init=False)
    """``str(request.request_id)``, made once."""

    def __post_init__(self) -> None:
        self.attempt = self.attempt or self.request.attempt
        self.request_id = str(self.request.request_id)

    @property
    def metadata(self) -> IntegrationMetadata:
        return self.entry.metadata


class SecretRecordingResolver:
    """Wraps the real resolver so every credential value handed out is known to the logger.

    The BotLogger and the outcome classifier then blank those exact strings out of logs, result
    messages and dead letters, whatever the integration does with them.
    """

    __slots__ = ("_inner", "_secrets")

    def __init__(self, inner: CredentialsResolverLike, secrets: SecretSet) -> None:
        self._inner = inner
        self._secrets = secrets

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        credentials = await self._inner.get_default_for(
            bot_id=bot_id, provider=provider, strategy=strategy
        )
        if credentials:
            self._secrets.add(credentials)
        return credentials


class Executor:
    """Runs requests against the registry's integrations."""

    def __init__(
        self,
        registry: IntegrationRegistry,
        resolver: CredentialsResolverLike,
        *,
        clock: Callable[[], datetime] = utc_now,
        max_config_bytes: int = 256 * 1024,
        max_config_depth: int = 32,
    ) -> None:
        self._registry = registry
        self._resolver = resolver
        self._clock = clock
        self._max_config_bytes = max_config_bytes
        self._max_config_depth = max_config_depth

    def expired(
        self, request: IntegrationRequest, metadata: IntegrationMetadata | None = None
    ) -> Execution | None:
        """The EXPIRED execution of a request whose deadline has passed, else ``None``."""
        if request.deadline is None:
            return None
        now = self._clock()
        if request.deadline > now:
            return None
        error = DeadlineExpiredError(
            f"deadline {request.deadline.isoformat()} passed before execution "
            f"(now {now.isoformat()}); the action was not run"
        )
        return Execution(classify(error), metadata, None, now)

    def refused(self, message: str) -> Execution:
        """The execution of a request refused before lookup: its input is at fault."""
        return Execution(classify(InvalidConfigError(message)), None, None, self._clock())

    def prepare(self, request: IntegrationRequest) -> Prepared | Execution:
        """Everything that can fail before a call: deadline, lookup, config.

        Returns what to execute, or the finished :class:`Execution` of a request that cannot run
        (expired, unknown integration, unavailable library, invalid config).
        """
        expired = self.expired(request)
        if expired is not None:
            return expired
        metadata: IntegrationMetadata | None = None
        try:
            entry = self._registry.entry(request.integration_id, request.integration_version)
            metadata = entry.metadata
            config = parse_config(
                request.config, max_bytes=self._max_config_bytes, max_depth=self._max_config_depth
            )
            entry.validate_config(config)
        except IntegrationError as exc:
            return Execution(classify(exc), metadata, None, self._clock())
        return Prepared(request, entry, config)

    async def execute(
        self,
        prepared: Prepared,
        *,
        traceparent: str | None = None,
        gate: SendGateLike | None = None,
    ) -> Execution:
        """Call the integration once with its timeout; never raises (but for cancellation).

        ``gate`` is passed before each provider request leaves (:mod:`processors.send_gate`).
        """
        request, metadata = prepared.request, prepared.metadata
        secrets = SecretSet()
        started_at = self._clock()
        try:
            logger = BotLogger(
                f"integrations.{metadata.id}",
                bot_id=request.bot_id,
                request_id=prepared.request_id,
                integration_id=metadata.id,
                secrets=secrets,
            )
            resolver = SecretRecordingResolver(self._resolver, secrets)
            context = RequestContext(
                request_id=prepared.request_id,
                bot_id=request.bot_id,
                idempotency_key=request.idempotency_key or prepared.request_id,
                attempt=prepared.attempt,
                deadline=request.deadline,
                traceparent=traceparent,
                gate=gate,
                integration_id=metadata.id,
                secrets=secrets,
            )
            with executing(context):
                async with asyncio.timeout(_time_left(metadata.timeout_s, request, started_at)):
                    returned = await prepared.entry.integration.execute(
                        dict(prepared.config), resolver, request.bot_id, logger
                    )
            outcome = classify(returned, secrets=secrets)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = classify(exc, secrets=secrets)
            if not isinstance(exc, IntegrationError | TimeoutError):
                log.error(
                    "integration %s raised %s for request %s (bot %s): %s",
                    request.integration_id,
                    type(exc).__name__,
                    request.request_id,
                    request.bot_id,
                    outcome.message,
                )
        return Execution(outcome, metadata, started_at, self._clock())


_TOO_DEEP = object()


def parse_config(text: str, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    """A request's config as a JSON object, refused before parsing when over ``max_bytes`` and
    after when nested deeper than ``max_depth`` (so validation never recurses without bound)."""
    size = len(text.encode()) if len(text) * 4 > max_bytes else len(text)
    if size > max_bytes:
        raise InvalidConfigError(
            f"$: config is {size} bytes, over the limit of {max_bytes} "
            "(ACTIONSTREAM_PROCESSING__MAX_CONFIG_BYTES); send large content by URL"
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidConfigError(
            f"config is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "send the config as a JSON object"
        ) from None
    except RecursionError:
        config = _TOO_DEEP  # nested far deeper than any limit: refused below
    if config is _TOO_DEEP or _depth_over(config, max_depth):
        raise InvalidConfigError(
            f"$: config is nested deeper than {max_depth} levels "
            "(ACTIONSTREAM_PROCESSING__MAX_CONFIG_DEPTH); flatten it"
        )
    if not isinstance(config, dict):
        raise InvalidConfigError(
            f"$: config must be a JSON object, got {type(config).__name__}; "
            'send e.g. {"chat_id": 42, "text": "hi"}'
        )
    return config


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers deeper than ``limit`` (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _time_left(timeout_s: float, request: IntegrationRequest, now: datetime) -> float:
    """The integration's timeout, shortened so the call cannot outlive the request's deadline."""
    if request.deadline is None:
        return timeout_s
    return max(0.0, min(timeout_s, (request.deadline - now).total_seconds()))
