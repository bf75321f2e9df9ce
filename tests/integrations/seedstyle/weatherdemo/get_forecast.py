# An integration written exactly as the seed's template shows (imports adjusted to this
# repository's package names), to prove seed-style code works unchanged. Hence the old
# typing.Dict spelling and the seed's narrower parameter types.
# ruff: noqa: UP006, UP035
from typing import Any, Dict
from uuid import UUID

# Импортируйте библиотеку НАПРЯМУЮ в backend код
from weatherdemo_sdk import WeatherClient

from integrations.base import BaseIntegration, IntegrationMetadata
from integrations.bot_logger import BotLogger
from integrations.credentials import CredentialsResolver


class WeatherdemoGetForecastIntegration(BaseIntegration):
    @property
    def metadata(self) -> IntegrationMetadata:
        return IntegrationMetadata(
            id="weatherdemo_get_forecast",
            version="1.0.0",
            name="Weatherdemo Get Forecast",
            description="Weather forecast for a city",
            # messaging, ai, storage, weather, maps, payments, crm, ecommerce, education,
            # medicine, news, translation
            category="weather",
            icon_s3_key="icons/integrations/weatherdemo.svg",
            color="#4A90E2",
            config_schema={
                "type": "object",
                "properties": {
                    "city": {"type": "string", "minLength": 1},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
            credentials_provider="weatherdemo",
            credentials_strategy="api_key",  # или "oauth"
            library_name="weatherdemo_sdk",
        )

    async def execute(
        self,
        config: Dict[str, Any],
        credentials_resolver: CredentialsResolver,
        bot_id: UUID,
        logger: BotLogger,
    ) -> Dict[str, Any]:
        # Получаем credentials
        creds = await credentials_resolver.get_default_for(
            bot_id=bot_id, provider="weatherdemo", strategy="api_key"
        )

        if not creds:
            return {
                "response": {"ok": False, "error_code": 401, "description": "Credentials not found"}
            }

        # A careless author: logs everything, credentials included. BotLogger must cope.
        logger.info(f"fetching forecast with config={config} creds={creds}")

        # ИСПОЛЬЗУЕМ БИБЛИОТЕКУ НАПРЯМУЮ
        client = WeatherClient(token=creds["token"])
        result = await client.get_forecast(config["city"], config.get("days", 1))

        # Возвращаем в формате системы
        return {"response": {"ok": True, "result": result}}
