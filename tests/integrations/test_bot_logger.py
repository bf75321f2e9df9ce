"""BotLogger and SecretRedactingFilter: nothing secret reaches a handler."""

from __future__ import annotations

import io
import logging
from typing import Any
from uuid import UUID

import pytest

from integrations.base import BaseIntegration, CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import (
    BotLogger,
    SecretRedactingFilter,
    SecretSet,
    install_secret_filter,
    is_secret_key,
    redact_text,
    redact_value,
)

TG_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
API_KEY = "wx-live-8f2d9c1e7a"
PASSWORD = "correct horse battery staple"
BEARER = "ya29.a0AfH6SMBx-opaque-access"
SECRETS = (TG_TOKEN, API_KEY, PASSWORD, BEARER)

LOGGER_NAME = "tests.integrations.careless"


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret leaked: {secret!r} in {text!r}"


class CarelessIntegration(BaseIntegration):
    """Logs everything it has, the way a hurried integration author might."""

    @property
    def metadata(self) -> IntegrationMetadata:
        return IntegrationMetadata(
            id="careless_send",
            version="1.0.0",
            name="Careless",
            description="Logs too much",
            category="messaging",
            config_schema={"type": "object"},
            credentials_provider="careless",
        )

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        creds = await credentials_resolver.get_default_for(
            bot_id=bot_id, provider="careless", strategy="api_key"
        )
        assert creds is not None
        logger.info("config %s", config)
        logger.info("credentials %s", creds)
        logger.info(f"credentials as f-string: {creds}")
        logger.info("calling https://api.telegram.org/bot%s/sendMessage", creds["token"])
        logger.debug("GET https://api.example.com/weather?q=Oslo&appid=%s", creds["api_key"])
        logger.info("headers", headers={"Authorization": f"Bearer {BEARER}"})
        logger.info(f"retrying with Bearer {BEARER}")
        logger.warning("extra", extra={"credentials": creds, "attempt": 2})
        logger.info("%(user)s logs in with %(password)s", {"user": "bob", "password": PASSWORD})
        try:
            raise RuntimeError(f"provider rejected token {creds['token']} for {config['chat_id']}")
        except RuntimeError:
            logger.exception("send failed")
        return {"response": {"ok": True, "result": {}}}


class StubResolver:
    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        return {"token": TG_TOKEN, "api_key": API_KEY, "password": PASSWORD}


@pytest.mark.parametrize("register_secrets", [True, False])
async def test_careless_integration_leaks_nothing(
    caplog: pytest.LogCaptureFixture, register_secrets: bool
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    logger = BotLogger(
        LOGGER_NAME, bot_id="bot-42", request_id="req-1", integration_id="careless_send"
    )
    if register_secrets:  # what the processor does with every resolved credential
        logger.add_secret(
            await StubResolver().get_default_for(
                bot_id="bot-42", provider="careless", strategy="api_key"
            )
        )
    await CarelessIntegration().execute({"chat_id": 1}, StubResolver(), "bot-42", logger)

    assert len(caplog.records) == 10
    _assert_clean(caplog.text)
    for record in caplog.records:
        _assert_clean(repr(record.__dict__))
        assert record.exc_info is None  # the exception object is not handed to handlers
        assert (record.bot_id, record.request_id, record.integration_id) == (  # type: ignore[attr-defined]
            "bot-42",
            "req-1",
            "careless_send",
        )
    assert "config {'chat_id': 1}" in caplog.text  # non-secrets stay readable
    assert "'token': '***'" in caplog.text
    assert "api.telegram.org/bot***/sendMessage" in caplog.text
    assert "appid=***" in caplog.text
    assert "headers={'Authorization': '***'}" in caplog.text
    assert "retrying with Bearer ***" in caplog.text
    assert "bob logs in with ***" in caplog.text
    failed = caplog.records[-1]
    assert failed.levelno == logging.ERROR
    assert failed.exc_text is not None
    assert "RuntimeError: provider rejected token *** for 1" in failed.exc_text
    assert "Traceback (most recent call last)" in caplog.text


def test_records_point_at_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    BotLogger(LOGGER_NAME, bot_id="b").info("here")
    record = caplog.records[0]
    assert record.filename == "test_bot_logger.py"
    assert record.funcName == "test_records_point_at_the_caller"


def test_structured_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    BotLogger(LOGGER_NAME, bot_id="b").info("sent", chat_id=5, api_token="tok-123456")
    record = caplog.records[0]
    assert record.getMessage() == "sent chat_id=5 api_token=***"
    assert record.fields == {"chat_id": 5, "api_token": "***"}  # type: ignore[attr-defined]


def test_disabled_levels_cost_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)

    class Exploding:
        def __str__(self) -> str:
            raise AssertionError("formatted although the level is disabled")

    BotLogger(LOGGER_NAME, bot_id="b").debug("value %s", Exploding())
    assert caplog.records == []


def test_bound_children_share_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    parent = BotLogger(LOGGER_NAME, bot_id="b", request_id="r")
    child = parent.bind(attempt=2)
    parent.add_secret("s3cr3t-value")
    child.info("using s3cr3t-value")
    record = caplog.records[0]
    assert record.getMessage() == "using ***"
    assert (record.request_id, record.attempt) == ("r", 2)  # type: ignore[attr-defined]


def test_default_logger_name_and_properties() -> None:
    logger = BotLogger(bot_id=UUID(int=1), request_id="r", integration_id="telegram_send_message")
    assert logger.logger.name == "integrations.telegram_send_message"
    assert logger.bot_id == str(UUID(int=1))
    assert (logger.request_id, logger.integration_id) == ("r", "telegram_send_message")


def test_secret_set_ignores_tiny_values_and_matches_url_encoding() -> None:
    secrets = SecretSet([PASSWORD, "abc", None, True, {"nested": ["deep-secret"]}])
    assert secrets.redact("abc") == "abc"  # too short to redact safely
    assert secrets.redact("p=correct+horse+battery+staple") == "p=***"
    assert secrets.redact("p=correct%20horse%20battery%20staple") == "p=***"
    assert secrets.redact("x deep-secret y") == "x *** y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token={TG_TOKEN}", "token=***"),
        (f"https://api.telegram.org/bot{TG_TOKEN}/getMe", "https://api.telegram.org/bot***/getMe"),
        (
            '{"access_token": "abc.def", "expires_in": 3600}',
            '{"access_token": "***", "expires_in": 3600}',
        ),
        ("'client_secret': 'x y z'", "'client_secret': '***'"),
        ("Authorization: Bearer abcdef123456", "Authorization: ***"),
        ("sent with Bearer abcdef123456 ok", "sent with Bearer *** ok"),
        ("?wstoken=ff00aa&moodlewsrestformat=json", "?wstoken=***&moodlewsrestformat=json"),
        ("X-Api-Key: k-12345", "X-Api-Key: ***"),
        ("my_service_api_key=v1", "my_service_api_key=***"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "jwt ***"),
        # Not secrets: must stay readable.
        (
            "idempotency_key=abc-1 icon_s3_key=icons/x.svg",
            "idempotency_key=abc-1 icon_s3_key=icons/x.svg",
        ),
        ("chat_id=12345 message_id=99", "chat_id=12345 message_id=99"),
        ("token_type=bearer expires_in=60", "token_type=bearer expires_in=60"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_value_and_secret_keys() -> None:
    value = {
        "token": TG_TOKEN,
        "nested": [{"Client-Secret": "x"}, ("refresh_token", "not a key")],
        "chat_id": 5,
        "empty_token": None,
    }
    assert redact_value(value) == {
        "token": "***",
        "nested": [{"Client-Secret": "***"}, ("refresh_token", "not a key")],
        "chat_id": 5,
        "empty_token": None,
    }
    assert is_secret_key("APPID")
    assert is_secret_key("bot_token")
    assert not is_secret_key("idempotency_key")
    assert not is_secret_key(5)


def test_filter_redacts_plain_stdlib_logging() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretRedactingFilter(secrets=["static-secret-1"]))
    plain = logging.getLogger("tests.integrations.plain")
    plain.addHandler(handler)
    plain.setLevel(logging.INFO)
    plain.propagate = False
    try:
        plain.info("HTTP Request: POST https://api.telegram.org/bot%s/sendMessage", TG_TOKEN)
        plain.info("cfg", extra={"creds": {"api_key": API_KEY}, "api_key": API_KEY})
        try:
            raise ValueError("static-secret-1 rejected")
        except ValueError:
            plain.exception("boom")
    finally:
        plain.removeHandler(handler)
    output = stream.getvalue()
    _assert_clean(output)
    assert "bot***/sendMessage" in output
    assert "ValueError: *** rejected" in output
    assert "static-secret-1" not in output


def test_install_secret_filter_is_idempotent() -> None:
    root = logging.getLogger("tests.integrations.install")
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        first = install_secret_filter(root)
        second = install_secret_filter(root)
        assert first is second
        assert handler.filters == [first]
    finally:
        root.removeHandler(handler)


def test_secrets_in_url_paths_are_redacted() -> None:
    discord = (
        "POST https://discord.com/api/v10/webhooks/123456789/AbCdEfGhIjKlMnOpQrStUv_-xyz?wait=1"
    )
    bitrix = "POST https://portal.bitrix24.ru/rest/1/k3yS3cr3tVal0e/crm.lead.add.json"
    assert "AbCdEfGhIjKlMnOpQrStUv" not in redact_text(discord)
    assert "/webhooks/123456789/" in redact_text(discord)
    assert "k3yS3cr3tVal0e" not in redact_text(bitrix)
    assert "crm.lead.add.json" in redact_text(bitrix)


def test_a_handler_blanks_the_executing_requests_secrets_whoever_logs_them() -> None:
    from integrations.context import RequestContext, executing

    secrets = SecretSet(["bot-credential-value-98765"])
    context = RequestContext(request_id="r", bot_id="b", idempotency_key="r", secrets=secrets)
    record = logging.makeLogRecord(
        {"msg": "POST https://x.test/?k=%s", "args": ("bot-credential-value-98765",)}
    )
    with executing(context):
        SecretRedactingFilter().filter(record)
    assert record.getMessage() == "POST https://x.test/?k=***"
