"""Discord's answers through the seam: retry_after units by API version, form-error paths, the
codes that decide the error (httpx.MockTransport; the real socket is in test_execute_webhook)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integrations import errors
from integrations.discord.client import Discord, flatten_form_errors, retry_after_in_ms
from integrations.provider import send

TOKEN = "discord-webhook-token-for-the-client-tests"
V10 = "https://discord.com/api/v10"
UNVERSIONED = "https://discord.com/api"


async def answer(
    status: int,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    base_url: str = V10,
    text: str | None = None,
) -> errors.IntegrationError:
    """The error :func:`send` raises for Discord answering ``status`` with ``body``."""

    def respond(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    transport = httpx.MockTransport(respond)
    async with httpx.AsyncClient(base_url=base_url, transport=transport) as client:
        with pytest.raises(errors.IntegrationError) as caught:
            await send(
                client, Discord(), "POST", f"/webhooks/1/{TOKEN}",
                writes=True, secrets=[TOKEN], what="POST webhooks/1",
            )  # fmt: skip
    assert TOKEN not in caught.value.message
    return caught.value


def test_retry_after_units_by_api_version() -> None:
    assert retry_after_in_ms("https://discord.com/api") is True
    assert retry_after_in_ms("https://discord.com/api/v6") is True
    assert retry_after_in_ms("https://discord.com/api/v8") is False
    assert retry_after_in_ms("https://discord.com/api/v10") is False


@pytest.mark.parametrize(
    ("base_url", "body", "headers", "seconds"),
    [
        (V10, {"retry_after": 0.5}, {"Retry-After": "1"}, 0.5),  # the body is the precise one
        (UNVERSIONED, {"retry_after": 1500}, {"Retry-After": "2000"}, 1.5),  # milliseconds
        (V10, {}, {"Retry-After": "2"}, 2),
        (UNVERSIONED, {}, {"Retry-After": "2000"}, 2),
        (UNVERSIONED, {}, {"X-RateLimit-Reset-After": "0.75"}, 0.75),  # seconds in every version
    ],
)
async def test_429_waits_in_seconds_whatever_the_api_version(
    base_url: str, body: dict[str, Any], headers: dict[str, str], seconds: float
) -> None:
    error = await answer(429, body, headers=headers, base_url=base_url)
    assert isinstance(error, errors.RateLimitedError)
    assert error.retry_after_s == pytest.approx(seconds)


async def test_cloudflares_html_429_is_in_seconds_even_on_an_unversioned_api() -> None:
    html = "<html>error code: 1015</html>"
    error = await answer(429, text=html, headers={"Retry-After": "30"}, base_url=UNVERSIONED)
    assert isinstance(error, errors.RateLimitedError)
    assert error.retry_after_s == 30
    assert error.parameters["scope"] == "cloudflare"


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
        (404, {"message": "Unknown Webhook", "code": 10015}, errors.AuthError),
        (
            404,
            {"message": "Unknown Channel", "code": 10003},
            errors.PermanentError,
        ),  # a wrong thread_id
        (403, {"message": "Missing Permissions", "code": 50013}, errors.PermanentError),
        (
            400,
            {"message": "Cannot send an empty message", "code": 50006},
            errors.InvalidConfigError,
        ),
        (400, {"message": "Forum needs a thread name", "code": 220001}, errors.PermanentError),
        (200, "not a message object", errors.TransientError),  # a proxy's 2xx: not Discord's answer
    ],
)
async def test_status_and_code_decide_the_error(
    status: int, body: object, expected: type[Exception]
) -> None:
    error = await answer(status, body)
    assert type(error) is expected
    assert error.message.startswith("Discord POST webhooks/1: HTTP ")
