"""OpenTelemetry spans, when ``opentelemetry-api`` is installed (the ``otel`` extra); else nothing.

The worker opens, per request (:mod:`processors.spans`): a CONSUMER span for its handling, a span
per attempt, a PRODUCER span per record it publishes; and here, a CLIENT span per HTTP request
an integration sends through the shared clients (:func:`traced_transport`). The ``traceparent``
sent to providers and written on results is the current span's own (:func:`own_traceparent`).

Without the API, or with it but no tracer provider set (no SDK configured), every function here is
a pass-through: no span is made and the propagated ``traceparent`` is exactly the one the request
came with. Exporting is configured the standard
way: :func:`configure_from_environment` installs the SDK's provider with an OTLP exporter when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``) is set and ``OTEL_SDK_DISABLED`` is not.

Attributes never hold a URL's path or query, a header or a credential: HTTP spans carry the
method and host only (providers put keys in queries, and Telegram, Discord and Bitrix24 in
paths).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace import (
        Link,
        NoOpTracerProvider,
        ProxyTracerProvider,
        SpanKind,
        Status,
        StatusCode,
    )
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the otel extra is not installed
    _trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

__all__ = [
    "NO_SPAN",
    "configure_from_environment",
    "enabled",
    "own_traceparent",
    "refresh",
    "span",
    "traced_transport",
    "use_tracer_provider",
]

log = logging.getLogger(__name__)

_PROVIDER: TracerProvider | None = None  # tests: their own provider instead of the global one
_PROPAGATOR = TraceContextTextMapPropagator() if _trace is not None else None


_ENABLED: bool | None = None  # decided once, see refresh()


def enabled() -> bool:
    """Whether spans are made: the API is installed, not disabled, and a tracer provider is set
    (the SDK's, or a test's). The API's default provider makes non-recording spans that only
    carry their parent's context, which the pass-through does too without a cost per request.

    Decided on first use and kept (it was two environment look-ups, several times a request);
    :func:`refresh` decides again.
    """
    global _ENABLED
    if _ENABLED is None:
        _ENABLED = _decide()
    return _ENABLED


def _decide() -> bool:
    if _trace is None or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if _PROVIDER is not None:
        return True
    return not isinstance(_trace.get_tracer_provider(), ProxyTracerProvider | NoOpTracerProvider)


def refresh() -> None:
    """Decide :func:`enabled` again: when a processor starts, or the tracer provider changes."""
    global _ENABLED
    _ENABLED = None


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Make spans with ``provider`` rather than the global one (``None``: the global again)."""
    global _PROVIDER
    _PROVIDER = provider
    refresh()


def _tracer() -> Any:
    provider = _PROVIDER if _PROVIDER is not None else _trace.get_tracer_provider()
    return provider.get_tracer("actionstream")


NO_SPAN: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
"""What :func:`span` gives when spans are off: one shared object, nothing made per call."""


def span(
    name: str,
    *,
    kind: str = "internal",
    parent_traceparent: str | None = None,
    attributes: Mapping[str, str | int | bool] | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A current span ``name`` of ``kind`` (``consumer``, ``producer``, ``client``,
    ``internal``); with ``parent_traceparent``, a child of that remote context, linked to it.
    Gives ``None`` when spans are off (:data:`NO_SPAN`)."""
    if not enabled():
        return NO_SPAN
    return _span(name, kind, parent_traceparent, attributes)


@contextlib.contextmanager
def _span(
    name: str,
    kind: str,
    parent_traceparent: str | None,
    attributes: Mapping[str, str | int | bool] | None,
) -> Iterator[Span]:
    context = None
    links: list[Link] = []
    if parent_traceparent is not None and _PROPAGATOR is not None:
        context = _PROPAGATOR.extract({"traceparent": parent_traceparent})
        remote = _trace.get_current_span(context).get_span_context()
        if remote.is_valid:
            links.append(Link(remote))
    with _tracer().start_as_current_span(
        name,
        context=context,
        kind=getattr(SpanKind, kind.upper()),
        links=links,
        attributes=dict(attributes or {}),
        record_exception=False,  # exception messages may quote a provider's answer
        set_status_on_exception=True,
    ) as current:
        yield current


def set_attributes(current: Span | None, **attributes: str | int | bool | None) -> None:
    """Set the attributes that are not ``None`` on ``current`` (a span, or ``None``: off)."""
    if current is not None:
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


def mark_failed(current: Span | None, description: str) -> None:
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, description))


def own_traceparent() -> str | None:
    """The current span's ``traceparent``, or ``None`` (no valid span, or spans off)."""
    if not enabled() or _PROPAGATOR is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def configure_from_environment() -> bool:
    """Install the SDK's tracer provider with an OTLP exporter, configured by the standard
    ``OTEL_*`` variables, if they ask for one; ``True`` when installed."""
    wanted = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if not enabled() or not wanted or os.environ.get("OTEL_TRACES_EXPORTER") == "none":
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the SDK or OTLP exporter is missing: "
            "pip install 'actionstream[otel]'"
        )
        return False
    service = os.environ.get("OTEL_SERVICE_NAME", "actionstream")
    provider = SdkTracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _trace.set_tracer_provider(provider)
    refresh()
    return True


class _TracedTransport(httpx.AsyncBaseTransport):
    """A CLIENT span around each request, whose context is what the request carries."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Method and host only: paths carry secrets too (Telegram's /bot<token>/, webhooks).
        attributes = {"http.request.method": request.method, "server.address": request.url.host}
        with span(f"HTTP {request.method}", kind="client", attributes=attributes) as current:
            traceparent = own_traceparent()
            if traceparent is not None:
                request.headers["traceparent"] = traceparent
            response = await self._inner.handle_async_request(request)
            set_attributes(current, **{"http.response.status_code": response.status_code})
            if response.status_code >= 500:
                mark_failed(current, f"HTTP {response.status_code}")
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def traced_transport(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    """``inner`` with a CLIENT span per request when spans are on; else ``inner`` itself."""
    return _TracedTransport(inner) if enabled() else inner
