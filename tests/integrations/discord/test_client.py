"""The Discord client helpers: retry_after units by API version, form-error paths, mapping."""

from __future__ import annotations

import httpx
import pytest

from integrations.discord.client import (
    flatten_form_errors,
    map_error_response,
    retry_after_in_ms,
)
from integrations.errors import AuthError, InvalidConfigError, PermanentError, RateLimitedError

REQUEST = httpx.Request("POST", "https://discord.com/api/v10/webhooks/1/t")


def test_retry_after_units_by_api_version() -> None:
    assert retry_after_in_ms("https://discord.com/api") is True
    assert retry_after_in_ms("https://discord.com/api/v6") is True
    assert retry_after_in_ms("https://discord.com/api/v8") is False
    assert retry_after_in_ms("https://discord.com/api/v10") is False
    header_only = httpx.Response(429, headers={"Retry-After": "2"}, request=REQUEST, json={})
    assert map_error_response(header_only, milliseconds=False).retry_after_s == 2  # type: ignore[attr-defined]
    reset_only = httpx.Response(
        429, headers={"X-RateLimit-Reset-After": "0.75"}, request=REQUEST, json={}
    )
    assert map_error_response(reset_only, milliseconds=True).retry_after_s == 0.75  # type: ignore[attr-defined]


def test_flatten_form_errors() -> None:
    tree = {
        "embeds": {
            "0": {"description": {"_errors": [{"code": "X", "message": "too long"}]}},
            "_errors": [{"code": "Y", "message": "too many"}],
        }
    }
    assert flatten_form_errors(tree) == [
        "$.embeds: too many",
        "$.embeds[0].description: too long",
    ]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"message": "Invalid Webhook Token", "code": 50027}, AuthError),
        (404, {"message": "Unknown Webhook", "code": 10015}, AuthError),
        (404, {"message": "Unknown Channel", "code": 10003}, PermanentError),  # a wrong thread_id
        (400, {"message": "Cannot send an empty message", "code": 50006}, InvalidConfigError),
        (400, {"message": "Forum needs a thread name", "code": 220001}, PermanentError),
        (429, {"message": "You are being rate limited.", "retry_after": 0.5}, RateLimitedError),
    ],
)
def test_status_and_code_decide_the_error(
    status: int, body: dict[str, object], expected: type[Exception]
) -> None:
    mapped = map_error_response(
        httpx.Response(status, json=body, request=REQUEST), milliseconds=False
    )
    assert type(mapped) is expected
    assert "/webhooks/" not in mapped.message  # the URL (and its token) never goes in
