"""The whole catalogue through the real pipeline: one request per built-in integration.

Real broker, Redis and worker subprocess; every service is its package's fake on 127.0.0.1, reached
through ``Settings.integrations.endpoints`` (Bitrix24 and Moodle through the URL in the bot's
credentials, the news feed through the URL in its config). One bot holds credentials for every
provider, read from the file source with each integration's own strategy (``api_key``; ``oauth``
for Dropbox, Google, HubSpot and AmoCRM (static tokens), and PayPal's client credentials, from
which the worker mints its token; ``basic`` for YooKassa; the feed reader needs none).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integrations.amocrm.testing import FakeAmoCRM
from integrations.bitrix24.testing import FakeBitrix24
from integrations.discord.testing import FakeDiscord
from integrations.discovery import discover
from integrations.dropbox.testing import FakeDropbox
from integrations.google.testing import TOKEN_PATH as GOOGLE_TOKEN_PATH
from integrations.googleclassroom.testing import FakeGoogleClassroom
from integrations.googledrive.testing import FakeGoogleDrive
from integrations.googlemaps.testing import FakeGoogleMaps
from integrations.googletranslate.testing import FakeGoogleTranslate
from integrations.hubspot.testing import TOKEN_PATH as HUBSPOT_TOKEN_PATH
from integrations.hubspot.testing import FakeHubSpot
from integrations.moodle.testing import FakeMoodle
from integrations.newsapi.testing import FakeNewsAPI
from integrations.openai.testing import FakeOpenAI
from integrations.openfda.testing import FakeOpenFda
from integrations.openweathermap.testing import FakeOpenWeatherMap
from integrations.ozon.testing import FakeOzon
from integrations.paypal.testing import FakePayPal
from integrations.registry import IntegrationRegistry
from integrations.rss.testing import FakeFeeds
from integrations.stripe.testing import FakeStripe
from integrations.testing import LOOPBACK
from integrations.vk.testing import FakeVK
from integrations.wildberries.testing import FakeWildberries
from integrations.yandexgpt.testing import FakeYandexGPT
from integrations.yandexmaps.testing import FakeYandexGeocoder
from integrations.yandextranslate.testing import FakeYandexTranslate
from integrations.yandexweather.testing import FakeYandexWeather
from integrations.yookassa.testing import FakeYooKassa
from processors.settings import EndpointSettings, IntegrationSettings, Settings
from schemas import IntegrationResult, ResultStatus
from support.pipeline import Pipeline, running_pipeline

# One secret per provider, each known to its fake, so a call with anything else fails there.
DISCORD_WEBHOOK = ("223704706495545345", "catalogue-webhook-token-3d89bb7572e0fb30d8128367")
OPENAI_KEY = "sk-proj-catalogue-Vd3kX9qL2mT7wR4yB8nF1cH6jP0sA5eZuG3i"
DROPBOX_TOKEN = "sl.catalogue-dropbox-access-token-0123456789"
OWM_KEY = "b1b15e88fa797225412429c1c50c1cat"
GOOGLEMAPS_KEY = "AIzaSyCATALOGUE-googlemaps-key-0123456789"
YOOKASSA_SHOP, YOOKASSA_SECRET = "654321", "test_catalogue_Fh8hUAVVBGUGbjmlzba6TB0iyUbos"
STRIPE_KEY = "sk_test_51CatalogueKeyForTestsOnly0123456789abcdef"
WB_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzaWQiOiJjYXRhbG9ndWUifQ.c2lnbmF0dXJl"
WB_WAREHOUSE, WB_CHRT = 507, 12345678
MOODLE_TOKEN = "0123456789abcdef0123456789abcdef"
OPENFDA_KEY = "fdaCATALOGUE0123456789abcdefghijklmnopq"
NEWSAPI_KEY = "7d3f9a1c5e8b4d2fa6c0e9b1d4fcat01"
TRANSLATE_KEY = "AIzaSyCATALOGUE-translate-key-0123456789"
VK_TOKEN = "vk1.a.catalogueRunT0kenForFakeVK0123456789"
YANDEXGPT_KEY = "AQVNcatalogue0yandexgpt0key0123456789abcd"
YANDEXTRANSLATE_KEY = "AQVNcatalogue0translate0key0123456789ab"
YANDEX_FOLDER = "b1gcatalogue00folder"  # 20 characters, as Yandex Cloud folder ids are
YWEATHER_KEY = "catalogue-yandexweather-key-0123456789ab"
YMAPS_KEY = "catalogue-yandexmaps-key-0123456789abcd"
OZON_CLIENT_ID, OZON_KEY = "1928374", "catalogue-ozon-api-key-0123456789abcdef"
OZON_PRODUCT, OZON_OFFER = 214887921, "PH8865"
VK_PEER = 12345
DRIVE_TOKEN = "ya29.catalogue-drive-access-token-0123456789"
CLASSROOM_TOKEN = "ya29.catalogue-classroom-access-token-012345"
HUBSPOT_TOKEN = "CNLcatalogue-hubspot-access-token-0123456789"
AMOCRM_TOKEN = "eyJcatalogue-amocrm-access-token-0123456789"
PAYPAL_CLIENT = ("AcatalogueClientIdForPayPal0123", "EcatalogueClientSecretForPayPal0123")
CHAT_ID = 4242


@dataclass
class Fakes:
    """Every service's fake but Telegram's (the pipeline runs that one)."""

    discord: FakeDiscord
    openai: FakeOpenAI
    dropbox: FakeDropbox
    openweathermap: FakeOpenWeatherMap
    googlemaps: FakeGoogleMaps
    yookassa: FakeYooKassa
    stripe: FakeStripe
    bitrix24: FakeBitrix24
    wildberries: FakeWildberries
    moodle: FakeMoodle
    openfda: FakeOpenFda
    newsapi: FakeNewsAPI
    googletranslate: FakeGoogleTranslate
    vk: FakeVK
    yandexgpt: FakeYandexGPT
    yandextranslate: FakeYandexTranslate
    yandexweather: FakeYandexWeather
    yandexmaps: FakeYandexGeocoder
    ozon: FakeOzon
    rss: FakeFeeds
    googledrive: FakeGoogleDrive
    googleclassroom: FakeGoogleClassroom
    hubspot: FakeHubSpot
    amocrm: FakeAmoCRM
    paypal: FakePayPal

    @property
    def bitrix24_secret(self) -> str:
        """The secret part of the fake portal's webhook URL."""
        return self.bitrix24.webhook_url().rstrip("/").rsplit("/", 1)[-1]

    def endpoints(self) -> dict[str, EndpointSettings]:
        """Base URLs as each integration expects them (some defaults carry a path)."""
        return {
            "discord": EndpointSettings(base_url=self.discord.url),  # .../api/v10
            "openai": EndpointSettings(base_url=self.openai.url),  # .../v1
            "dropbox": EndpointSettings(base_url=self.dropbox.base_url),  # .../2
            "openweathermap": EndpointSettings(base_url=self.openweathermap.url),
            "googlemaps": EndpointSettings(base_url=self.googlemaps.url),
            "yookassa": EndpointSettings(base_url=self.yookassa.base_url),  # .../v3
            "stripe": EndpointSettings(base_url=self.stripe.url),
            "wildberries": EndpointSettings(base_url=self.wildberries.url),
            "openfda": EndpointSettings(base_url=self.openfda.url),
            "newsapi": EndpointSettings(base_url=self.newsapi.url),  # .../v2
            "googletranslate": EndpointSettings(base_url=self.googletranslate.url),
            "vk": EndpointSettings(base_url=self.vk.url),
            "yandexgpt": EndpointSettings(base_url=self.yandexgpt.url),
            "yandextranslate": EndpointSettings(base_url=self.yandextranslate.url),
            "yandexweather": EndpointSettings(base_url=self.yandexweather.url),
            "yandexmaps": EndpointSettings(base_url=self.yandexmaps.url),
            "ozon": EndpointSettings(base_url=self.ozon.url),
            "googledrive": EndpointSettings(
                base_url=self.googledrive.base_url,
                token_url=self.googledrive.url + GOOGLE_TOKEN_PATH,
            ),
            "googleclassroom": EndpointSettings(
                base_url=self.googleclassroom.base_url,
                token_url=self.googleclassroom.url + GOOGLE_TOKEN_PATH,
            ),
            "hubspot": EndpointSettings(
                base_url=self.hubspot.url, token_url=self.hubspot.url + HUBSPOT_TOKEN_PATH
            ),
            "paypal": EndpointSettings(base_url=self.paypal.url, token_url=self.paypal.token_url),
            # amocrm: the account URL is in the bot's credentials.
            # bitrix24 and moodle: the URL is in the bot's credentials; rss: in the config.
        }

    def credentials(self, telegram_token: str) -> dict[str, dict[str, dict[str, Any]]]:
        """``{provider: {strategy: fields}}`` for one bot, as the file source lays them out."""
        webhook_id, webhook_token = DISCORD_WEBHOOK
        return {
            "telegram": {"api_key": {"token": telegram_token}},
            "discord": {
                "api_key": {
                    "webhook_url": f"https://discord.com/api/webhooks/{webhook_id}/{webhook_token}"
                }
            },
            "openai": {"api_key": {"api_key": OPENAI_KEY}},
            "dropbox": {"oauth": {"access_token": DROPBOX_TOKEN}},
            "openweathermap": {"api_key": {"api_key": OWM_KEY}},
            "googlemaps": {"api_key": {"api_key": GOOGLEMAPS_KEY}},
            "yookassa": {"basic": {"shop_id": YOOKASSA_SHOP, "secret_key": YOOKASSA_SECRET}},
            "stripe": {"api_key": {"api_key": STRIPE_KEY}},
            "bitrix24": {"api_key": {"webhook_url": self.bitrix24.webhook_url()}},
            "wildberries": {"api_key": {"token": WB_TOKEN}},
            "moodle": {"api_key": {"site_url": self.moodle.url, "token": MOODLE_TOKEN}},
            "openfda": {"api_key": {"api_key": OPENFDA_KEY}},
            "newsapi": {"api_key": {"api_key": NEWSAPI_KEY}},
            "googletranslate": {"api_key": {"api_key": TRANSLATE_KEY}},
            "vk": {"api_key": {"token": VK_TOKEN}},
            "yandexgpt": {"api_key": {"api_key": YANDEXGPT_KEY, "folder_id": YANDEX_FOLDER}},
            "yandextranslate": {"api_key": {"api_key": YANDEXTRANSLATE_KEY}},
            "yandexweather": {"api_key": {"api_key": YWEATHER_KEY}},
            "yandexmaps": {"api_key": {"api_key": YMAPS_KEY}},
            "ozon": {"api_key": {"client_id": OZON_CLIENT_ID, "api_key": OZON_KEY}},
            "googledrive": {"oauth": {"access_token": DRIVE_TOKEN}},
            "googleclassroom": {"oauth": {"access_token": CLASSROOM_TOKEN}},
            "hubspot": {"oauth": {"access_token": HUBSPOT_TOKEN}},
            "amocrm": {"oauth": {"access_token": AMOCRM_TOKEN, "base_url": self.amocrm.url}},
            "paypal": {"oauth": {"client_id": PAYPAL_CLIENT[0], "client_secret": PAYPAL_CLIENT[1]}},
        }


@asynccontextmanager
async def running_fakes() -> AsyncIterator[Fakes]:
    async with AsyncExitStack() as stack:
        enter = stack.enter_async_context
        discord = await enter(FakeDiscord(accept_any_webhook=False))
        discord.add_webhook(*DISCORD_WEBHOOK)
        moodle = await enter(FakeMoodle(accept_any_token=False))
        moodle.add_token(MOODLE_TOKEN, user_id=2)
        wildberries = await enter(FakeWildberries(tokens=[WB_TOKEN]))
        wildberries.set_stock(WB_WAREHOUSE, chrt_id=WB_CHRT, amount=10)
        openfda = await enter(FakeOpenFda(api_keys=[OPENFDA_KEY]))
        openfda.add_label(brand_name="Advil", generic_name="IBUPROFEN", purpose="Pain reliever")
        ozon = await enter(FakeOzon(keys={OZON_CLIENT_ID: OZON_KEY}))
        ozon.add_product(OZON_PRODUCT, OZON_OFFER, fbo=(10, 2), fbs=(3, 1))
        yield Fakes(
            discord=discord,
            openai=await enter(FakeOpenAI(api_keys={OPENAI_KEY})),
            dropbox=await enter(FakeDropbox(tokens=(DROPBOX_TOKEN,))),
            openweathermap=await enter(FakeOpenWeatherMap(api_keys={OWM_KEY})),
            googlemaps=await enter(FakeGoogleMaps(api_keys=[GOOGLEMAPS_KEY])),
            yookassa=await enter(FakeYooKassa(shop_id=YOOKASSA_SHOP, secret_key=YOOKASSA_SECRET)),
            stripe=await enter(FakeStripe(api_keys=(STRIPE_KEY,))),
            bitrix24=await enter(FakeBitrix24()),
            wildberries=wildberries,
            moodle=moodle,
            openfda=openfda,
            newsapi=await enter(FakeNewsAPI(api_keys={NEWSAPI_KEY})),
            googletranslate=await enter(FakeGoogleTranslate(api_keys=[TRANSLATE_KEY])),
            vk=await enter(FakeVK(tokens={VK_TOKEN})),
            yandexgpt=await enter(FakeYandexGPT(api_keys={YANDEXGPT_KEY: YANDEX_FOLDER})),
            yandextranslate=await enter(
                FakeYandexTranslate(api_keys={YANDEXTRANSLATE_KEY: YANDEX_FOLDER})
            ),
            yandexweather=await enter(FakeYandexWeather(api_keys={YWEATHER_KEY})),
            yandexmaps=await enter(FakeYandexGeocoder(api_keys={YMAPS_KEY})),
            ozon=ozon,
            rss=await enter(FakeFeeds()),
            googledrive=await enter(FakeGoogleDrive(tokens={DRIVE_TOKEN})),
            googleclassroom=await enter(FakeGoogleClassroom(tokens={CLASSROOM_TOKEN})),
            hubspot=await enter(FakeHubSpot(tokens=(HUBSPOT_TOKEN,))),
            amocrm=await enter(FakeAmoCRM(tokens=(AMOCRM_TOKEN,))),
            paypal=await enter(
                FakePayPal(client_id=PAYPAL_CLIENT[0], client_secret=PAYPAL_CLIENT[1])
            ),
        )


def requests(unique: str, fakes: Fakes) -> dict[str, dict[str, Any]]:
    """One valid config per integration id."""
    return {
        "telegram_send_message": {"chat_id": CHAT_ID, "text": "catalogue run"},
        "telegram_send_photo": {"chat_id": CHAT_ID, "photo": "https://example.com/cat.jpg"},
        "discord_execute_webhook": {"content": "catalogue run"},
        "openai_chat_completion": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hello there"}],
        },
        "dropbox_upload_file": {"path": f"/catalogue/{unique}.txt", "content_text": "run"},
        "openweathermap_current_weather": {"city": "Moscow,RU"},
        "googlemaps_geocode": {"address": "Red Square, Moscow"},
        "yookassa_create_payment": {
            "amount": "100",
            "description": "Order 1",
            "return_url": "https://shop.example/done",
        },
        "stripe_create_payment_intent": {"amount": 1000, "currency": "USD"},
        "bitrix24_add_lead": {"title": "Lead from the catalogue run", "name": "Глеб"},
        "wildberries_get_stocks": {"warehouse_id": WB_WAREHOUSE, "chrt_ids": [WB_CHRT]},
        "moodle_send_message": {"user_id": 5, "text": "catalogue run"},
        "openfda_drug_label": {"name": "advil"},
        "newsapi_top_headlines": {"country": "gb"},
        "googletranslate_translate": {"text": "Hello, world!", "target": "ru"},
        "vk_send_message": {"peer_id": VK_PEER, "message": "catalogue run"},
        "yandexgpt_completion": {"messages": [{"role": "user", "text": "hello"}]},
        "yandextranslate_translate": {"texts": ["Hello, world!"], "target_language": "ru"},
        "yandexweather_forecast": {"lat": 55.7558, "lon": 37.6173, "days": 2},
        "yandexmaps_geocode": {"address": "Red Square, Moscow"},
        "ozon_get_stocks": {"offer_ids": [OZON_OFFER], "limit": 10},
        "rss_read_feed": {"url": fakes.rss.feed_url("dzen.rss"), "limit": 5},
        "googledrive_upload_file": {"name": f"catalogue-{unique}.txt", "content_text": "run"},
        "googleclassroom_create_announcement": {
            "course_id": "123456789",
            "text": f"catalogue {unique}",
        },
        "hubspot_create_contact": {"email": f"{unique}@example.com", "firstname": "Run"},
        "hubspot_create_deal": {"dealname": "Deal from the catalogue run", "amount": 100},
        "amocrm_create_lead": {"name": "Lead from the catalogue run", "price": 100},
        "paypal_create_order": {"amount": "10.00", "currency": "USD", "description": "Order 1"},
    }


def recorded(fakes: Fakes, pipeline: Pipeline) -> dict[str, list[tuple[Any, ...]]]:
    """What each fake received: the action called and the credential it came with."""
    return {
        "telegram": [(c.method, c.token) for c in pipeline.fake.calls],
        "discord": [(c.api_version, c.webhook_id, c.token) for c in fakes.discord.calls],
        "openai": [(c.method, c.path, c.api_key) for c in fakes.openai.calls],
        "dropbox": [(c.path, c.headers.get("Authorization")) for c in fakes.dropbox.calls],
        "openweathermap": [(c.path, c.appid) for c in fakes.openweathermap.calls],
        "googlemaps": [(c.method, c.path, c.params.get("key")) for c in fakes.googlemaps.calls],
        "yookassa": [(c.method, c.path, c.shop_id) for c in fakes.yookassa.calls],
        "stripe": [(c.method, c.path, c.api_key) for c in fakes.stripe.calls],
        "bitrix24": [(c.http_method, c.method, c.secret) for c in fakes.bitrix24.calls],
        "wildberries": [(c.method, c.path, c.token) for c in fakes.wildberries.calls],
        "moodle": [(c.method, c.function, c.token) for c in fakes.moodle.calls],
        "openfda": [(c.method, c.path, c.params.get("api_key")) for c in fakes.openfda.calls],
        "newsapi": [(c.path, c.key) for c in fakes.newsapi.calls],
        "googletranslate": [
            (c.method, c.path, c.params.get("key")) for c in fakes.googletranslate.calls
        ],
        "vk": [(c.method, c.api_method, c.token) for c in fakes.vk.calls],
        "yandexgpt": [(c.method, c.path, c.credential) for c in fakes.yandexgpt.calls],
        "yandextranslate": [(c.method, c.path, c.credential) for c in fakes.yandextranslate.calls],
        "yandexweather": [(c.path, c.key) for c in fakes.yandexweather.calls],
        "yandexmaps": [(c.path, c.params.get("geocode"), c.apikey) for c in fakes.yandexmaps.calls],
        "ozon": [(c.method, c.path, c.client_id, c.api_key) for c in fakes.ozon.calls],
        "rss": [(c.method, c.path) for c in fakes.rss.calls],
        **{
            name: sorted((c.path, c.headers.get("Authorization")) for c in fake.calls)
            for name, fake in (
                ("googledrive", fakes.googledrive),
                ("googleclassroom", fakes.googleclassroom),
                ("hubspot", fakes.hubspot),
                ("amocrm", fakes.amocrm),
            )
        },
        "paypal": [(c.method, c.path) for c in fakes.paypal.calls],
    }


def expected_calls(fakes: Fakes, telegram_token: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "telegram": [("sendMessage", telegram_token), ("sendPhoto", telegram_token)],
        "discord": [(10, *DISCORD_WEBHOOK)],
        "openai": [("POST", "/v1/chat/completions", OPENAI_KEY)],
        "dropbox": [("/2/files/upload", f"Bearer {DROPBOX_TOKEN}")],
        "openweathermap": [("/data/2.5/weather", OWM_KEY)],
        "googlemaps": [("GET", "/maps/api/geocode/json", GOOGLEMAPS_KEY)],
        "yookassa": [("POST", "/v3/payments", YOOKASSA_SHOP)],
        "stripe": [("POST", "/v1/payment_intents", STRIPE_KEY)],
        "bitrix24": [("POST", "crm.lead.add", fakes.bitrix24_secret)],
        "wildberries": [("POST", f"/api/v3/stocks/{WB_WAREHOUSE}", WB_TOKEN)],
        "moodle": [("POST", "core_message_send_instant_messages", MOODLE_TOKEN)],
        "openfda": [("GET", "/drug/label.json", OPENFDA_KEY)],
        "newsapi": [("/v2/top-headlines", NEWSAPI_KEY)],
        "googletranslate": [("POST", "/language/translate/v2", TRANSLATE_KEY)],
        "vk": [("POST", "messages.send", VK_TOKEN)],
        "yandexgpt": [("POST", "/foundationModels/v1/completion", YANDEXGPT_KEY)],
        "yandextranslate": [("POST", "/translate/v2/translate", YANDEXTRANSLATE_KEY)],
        "yandexweather": [("/graphql/query", YWEATHER_KEY)],
        "yandexmaps": [("/v1/", "Red Square, Moscow", YMAPS_KEY)],
        "ozon": [("POST", "/v4/product/info/stocks", OZON_CLIENT_ID, OZON_KEY)],
        "rss": [("GET", "/feeds/dzen.rss")],
        "googledrive": sorted(
            (path, f"Bearer {DRIVE_TOKEN}")
            for path in ("/drive/v3/files", "/drive/v3/files/generateIds", "/upload/drive/v3/files")
        ),
        "googleclassroom": [("/v1/courses/123456789/announcements", f"Bearer {CLASSROOM_TOKEN}")],
        "hubspot": [
            ("/crm/v3/objects/contacts", f"Bearer {HUBSPOT_TOKEN}"),
            ("/crm/v3/objects/deals", f"Bearer {HUBSPOT_TOKEN}"),
        ],
        "amocrm": [("/api/v4/leads", f"Bearer {AMOCRM_TOKEN}")],
        # The worker mints PayPal's token from the client credentials, then creates the order.
        "paypal": [("POST", "/v1/oauth2/token"), ("POST", "/v2/checkout/orders")],
    }


def secrets(fakes: Fakes, telegram_token: str) -> list[str]:
    """Every credential value the bot holds (the Discord webhook id is not a secret)."""
    return [
        telegram_token,
        DISCORD_WEBHOOK[1],
        OPENAI_KEY,
        DROPBOX_TOKEN,
        OWM_KEY,
        GOOGLEMAPS_KEY,
        YOOKASSA_SECRET,
        STRIPE_KEY,
        fakes.bitrix24_secret,
        WB_TOKEN,
        MOODLE_TOKEN,
        OPENFDA_KEY,
        NEWSAPI_KEY,
        TRANSLATE_KEY,
        VK_TOKEN,
        YANDEXGPT_KEY,
        YANDEXTRANSLATE_KEY,
        YWEATHER_KEY,
        YMAPS_KEY,
        OZON_KEY,
        DRIVE_TOKEN,
        CLASSROOM_TOKEN,
        HUBSPOT_TOKEN,
        AMOCRM_TOKEN,
        PAYPAL_CLIENT[1],
        *fakes.paypal.minted,
    ]


def describe(result: IntegrationResult) -> str:
    error = result.error
    why = f"{error.category} (code {error.code}): {error.message}" if error else "no error record"
    return f"  {result.integration_id}: {result.status.name}, {why}; response {result.response}"


def builtin_ids() -> set[str]:
    registry = IntegrationRegistry()
    report = discover(registry, entry_point_group=None)
    assert not report.unavailable, f"built-in services unavailable: {report.unavailable}"
    return set(registry.ids())


async def test_every_integration_in_the_catalogue_succeeds_through_the_pipeline(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str
) -> None:
    async with running_fakes() as fakes:
        configs = requests(unique, fakes)
        assert set(configs) == builtin_ids(), "the catalogue changed: give every integration a case"

        def adjust(settings: Settings) -> Settings:
            integrations = IntegrationSettings(
                extra_modules=["support.testkit"], endpoints=fakes.endpoints(), egress=LOOPBACK
            )
            return settings.model_copy(update={"integrations": integrations})

        async with running_pipeline(
            kafka_bootstrap, redis_url, tmp_path, unique, adjust=adjust
        ) as pipeline:
            bot, telegram_token = pipeline.bot(1), pipeline.token(1)
            # Written by hand: write_credentials() knows only the api_key strategy.
            pipeline.credentials_file.write_text(
                json.dumps({bot: fakes.credentials(telegram_token)})
            )
            await pipeline.worker.astart()

            published = {
                str(await pipeline.publisher.publish(bot, integration_id, config)): integration_id
                for integration_id, config in configs.items()
            }
            seen: list[IntegrationResult] = []

            def all_in(results: list[IntegrationResult]) -> bool:
                seen[:] = results
                return len(results) >= len(published)

            try:
                results = await pipeline.results_until(all_in, timeout_s=45)
            except TimeoutError:
                missing = set(published.values()) - {r.integration_id for r in seen}
                lines = "\n".join(describe(r) for r in seen)
                raise AssertionError(
                    f"no result for {sorted(missing)}; results so far:\n{lines}\n"
                    f"worker log:\n{pipeline.worker.tail()}"
                ) from None
            await pipeline.worker.astop()
            logs = pipeline.worker.logs()

        assert {str(r.request_id): r.integration_id for r in results} == published
        failed = [r for r in results if r.status is not ResultStatus.SUCCEEDED]
        assert not failed, "not SUCCEEDED:\n" + "\n".join(describe(r) for r in failed)
        assert all(r.envelope().ok for r in results)
        assert all(r.bot_id == bot for r in results)

        # Exactly one call per action (two for Telegram's two), each with the bot's credential.
        assert recorded(fakes, pipeline) == expected_calls(fakes, telegram_token)
        # The side effects landed where the fakes keep them.
        assert [m["content"] for m in fakes.discord.messages()] == ["catalogue run"]
        assert list(fakes.dropbox.files) == [f"/catalogue/{unique}.txt"]
        assert len(fakes.yookassa.payments) == len(fakes.stripe.intents) == 1
        assert [lead["TITLE"] for lead in fakes.bitrix24.leads.values()] == [
            "Lead from the catalogue run"
        ]
        assert [(m.to_user_id, m.text) for m in fakes.moodle.messages] == [(5, "catalogue run")]
        assert [(m.peer_id, m.text) for m in fakes.vk.messages] == [(VK_PEER, "catalogue run")]
        assert len(fakes.googledrive.files) == len(fakes.googleclassroom.announcements) == 1
        assert (fakes.paypal.mints, len(fakes.paypal.orders)) == (1, 1)

        # No credential in any result or in the worker's log.
        outputs = "\n".join(f"{r.response} {r.error}" for r in results)
        leaked = [secret for secret in secrets(fakes, telegram_token) if secret in outputs + logs]
        assert not leaked, f"credentials leaked into results or the worker log: {leaked}"
