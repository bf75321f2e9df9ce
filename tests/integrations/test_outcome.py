"""classify(): envelopes and exceptions into one Outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integrations.bot_logger import SecretSet, redact_text
from integrations.errors import (
    AuthError,
    DeadlineExpiredError,
    IntegrationNotFoundError,
    IntegrationUnavailableError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.outcome import Outcome, OutcomeCategory, classify, fail, ok

C = OutcomeCategory
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_envelope_helpers_match_the_seed() -> None:
    assert ok({"message_id": 1}) == {"response": {"ok": True, "result": {"message_id": 1}}}
    assert fail(401, "Credentials not found") == {
        "response": {"ok": False, "error_code": 401, "description": "Credentials not found"}
    }
    assert fail(429, "Too Many Requests", {"retry_after": 3})["response"]["parameters"] == {
        "retry_after": 3
    }


def test_success() -> None:
    outcome = classify(ok({"message_id": 7}))
    assert outcome == Outcome(
        C.SUCCEEDED, None, "ok", False, None, {"ok": True, "result": {"message_id": 7}}
    )
    assert outcome.succeeded
    assert outcome.error_record() is None


@pytest.mark.parametrize(
    ("code", "category", "retryable"),
    [
        (400, C.PERMANENT, False),
        (401, C.AUTH, False),
        (403, C.PERMANENT, False),  # Telegram: "bot was blocked by the user"
        (404, C.PERMANENT, False),
        (409, C.PERMANENT, False),
        (410, C.PERMANENT, False),
        (422, C.INVALID_CONFIG, False),
        (429, C.RATE_LIMITED, True),
        (408, C.TRANSIENT, True),
        (500, C.TRANSIENT, True),
        (502, C.TRANSIENT, True),
        (503, C.TRANSIENT, True),
        (599, C.TRANSIENT, True),
        (302, C.PERMANENT, False),
    ],
)
def test_envelope_codes(code: int, category: OutcomeCategory, retryable: bool) -> None:
    envelope = fail(code, "provider said no")
    outcome = classify(envelope)
    assert (outcome.category, outcome.code, outcome.retryable) == (category, code, retryable)
    assert outcome.message == "provider said no"
    assert outcome.response == envelope["response"]


def test_rate_limited_envelope_carries_retry_after() -> None:
    outcome = classify(fail(429, "Too Many Requests: retry after 5", {"retry_after": 5}))
    assert outcome.category is C.RATE_LIMITED
    assert outcome.retry_after_s == 5
    assert outcome.error_record() == {
        "category": "rate_limited",
        "code": 429,
        "message": "Too Many Requests: retry after 5",
        "retryable": True,
        "retry_after_ms": 5000,
    }
    assert classify(fail(429, "slow down")).retry_after_s is None
    assert classify(fail(429, "x", {"retry_after": "soon"})).retry_after_s is None


def test_migrate_parameters_are_kept_in_the_response() -> None:
    envelope = fail(400, "Bad Request: group chat was upgraded", {"migrate_to_chat_id": -100123})
    outcome = classify(envelope)
    assert outcome.category is C.PERMANENT
    assert outcome.response["parameters"] == {"migrate_to_chat_id": -100123}


def test_failure_without_description_gets_one() -> None:
    outcome = classify({"response": {"ok": False, "error_code": 503}})
    assert outcome.message == "error 503"
    assert outcome.category is C.TRANSIENT


@pytest.mark.parametrize(
    ("returned", "problem"),
    [
        (None, "returned NoneType, not a dict"),
        ("ok", "returned str, not a dict"),
        ({"ok": True, "result": 1}, "without a 'response' object (keys: ['ok', 'result'])"),
        ({"response": "ok"}, "without a 'response' object"),
        ({"response": {"ok": "yes"}}, "'ok' must be true or false, got 'yes'"),
        ({"response": {"ok": False, "description": "x"}}, "integer 'error_code', got None"),
        ({"response": {"ok": False, "error_code": "429"}}, "integer 'error_code', got '429'"),
        ({"response": {"ok": False, "error_code": True}}, "integer 'error_code', got True"),
    ],
)
def test_malformed_returns_are_internal(returned: Any, problem: str) -> None:
    outcome = classify(returned)
    assert outcome.category is C.INTERNAL
    assert outcome.retryable is False
    assert problem in outcome.message
    assert outcome.response == {"ok": False, "error_code": 500, "description": outcome.message}


@pytest.mark.parametrize(
    ("error", "category", "code", "retryable"),
    [
        (AuthError("token revoked"), C.AUTH, 401, False),
        (InvalidConfigError("$.text: too long"), C.INVALID_CONFIG, 400, False),
        (TransientError("provider 502"), C.TRANSIENT, 503, True),
        (
            PermanentError("Forbidden: bot was blocked by the user", code=403),
            C.PERMANENT,
            403,
            False,
        ),
        (DeadlineExpiredError("deadline passed 3 s ago"), C.EXPIRED, 408, False),
        (IntegrationNotFoundError("unknown", integration_id="x_y"), C.NOT_FOUND, 404, False),
        (
            IntegrationUnavailableError("no lib", integration_id="x_y", reason="missing"),
            C.UNAVAILABLE,
            501,
            False,
        ),
        (TimeoutError(), C.TRANSIENT, 504, True),  # asyncio.TimeoutError is this class
        (httpx.ConnectError("connection refused"), C.TRANSIENT, 503, True),
        (httpx.ReadTimeout("read timed out"), C.TRANSIENT, 504, True),
        (httpx.RemoteProtocolError("peer closed"), C.TRANSIENT, 503, True),
        (ConnectionResetError("reset by peer"), C.TRANSIENT, 503, True),
        (KeyError("token"), C.INTERNAL, 500, False),
        (ValueError("bug"), C.INTERNAL, 500, False),
    ],
)
def test_exceptions(
    error: BaseException, category: OutcomeCategory, code: int, retryable: bool
) -> None:
    outcome = classify(error)
    assert (outcome.category, outcome.code, outcome.retryable) == (category, code, retryable)
    assert outcome.response["ok"] is False
    assert outcome.response["error_code"] == code
    assert outcome.response["description"] == outcome.message


def test_typed_rate_limit_error() -> None:
    outcome = classify(RateLimitedError("Flood control exceeded", retry_after_s=2.5))
    assert outcome.category is C.RATE_LIMITED
    assert outcome.retry_after_s == 2.5
    assert outcome.response == {
        "ok": False,
        "error_code": 429,
        "description": "Flood control exceeded",
        "parameters": {"retry_after": 2},
    }


def test_internal_message_names_the_exception() -> None:
    outcome = classify(ValueError("bad chat id"))
    assert outcome.message == "integration raised ValueError: bad chat id"


def _status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage?appid=secret-app-id"
    request = httpx.Request("POST", url)
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError(f"status {status} for {url}", request=request, response=response)


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (429, C.RATE_LIMITED),
        (401, C.AUTH),
        (403, C.PERMANENT),
        (500, C.TRANSIENT),
        (400, C.PERMANENT),
    ],
)
def test_http_status_errors_are_classified_without_leaking_the_url(
    status: int, category: OutcomeCategory
) -> None:
    outcome = classify(_status_error(status))
    assert outcome.category is category
    assert outcome.code == status
    assert outcome.message.startswith(f"HTTP {status} ")
    assert "api.telegram.org" in outcome.message
    assert TOKEN not in str(outcome)
    assert "secret-app-id" not in str(outcome)


def test_http_429_honours_retry_after_header() -> None:
    assert classify(_status_error(429, {"Retry-After": "7"})).retry_after_s == 7
    assert (
        classify(_status_error(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})).retry_after_s
        is None
    )
    assert classify(_status_error(503, {"Retry-After": "7"})).retry_after_s is None


def test_exception_messages_are_redacted() -> None:
    leaky = httpx.ConnectError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getMe")
    outcome = classify(leaky)
    assert TOKEN not in outcome.message
    assert TOKEN not in str(outcome.response)
    assert "bot***/getMe" in outcome.message

    secrets = SecretSet(["hunter2-password"])
    outcome = classify(RuntimeError("login failed for hunter2-password"), secrets=secrets)
    assert "hunter2-password" not in outcome.message
    assert outcome.message == "integration raised RuntimeError: login failed for ***"


def test_long_messages_are_truncated() -> None:
    outcome = classify(PermanentError("x" * 5000))
    assert len(outcome.message) <= 500
    assert outcome.message.endswith("...")


def test_an_envelope_returned_by_an_integration_is_redacted_too() -> None:
    secrets = SecretSet(["tenant-secret-value-1234"])
    failed = classify(
        fail(400, "rejected key tenant-secret-value-1234 (sk_live_51Habc123def456)"),
        secrets=secrets,
    )
    assert "tenant-secret-value-1234" not in repr(failed)
    assert "sk_live_51Habc123def456" not in repr(failed)
    echoed = classify(ok({"url": "https://x.test/?k=tenant-secret-value-1234"}), secrets=secrets)
    assert echoed.response["result"] == {"url": "https://x.test/?k=***"}


@pytest.mark.parametrize(
    "text",
    [
        "Incorrect API key provided: sk-proj-abc1********wxyz.",
        "Invalid API Key provided: sk_live_****************1234",
        "API key not valid: AIzaSyD-abcdefghijklmnopqrstuvwxyz12345",
        "token sl.BAbCdEfGhIjKlMnOpQrStUvWx expired",
        "secret test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0 refused",
    ],
)
def test_provider_key_shapes_and_their_masked_fragments_are_redacted(text: str) -> None:
    redacted = redact_text(text)
    assert "***" in redacted
    assert not any(part in redacted for part in ("abc1", "1234", "AIzaSy", "BAbCd", "Fh8h"))


def test_names_that_look_like_key_prefixes_stay_readable() -> None:
    text = "icons/integrations/live_chat.svg test_create_payment_intent sk-learn"
    assert redact_text(text) == text
