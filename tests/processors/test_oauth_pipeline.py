"""OAuth renewal through the real pipeline: two worker processes, Dropbox uploads of six bots
whose access tokens expire during the run, and a token endpoint that rotates refresh tokens
single-use (stricter than Dropbox, as AmoCRM is), so one refresh too many would brick a bot.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from integrations.dropbox.testing import FakeDropbox
from integrations.testing import LOOPBACK, FakeServer
from processors.settings import EndpointSettings, IntegrationSettings, Settings
from schemas import IntegrationResult, ResultStatus
from support.chaos import Fleet
from support.pipeline import running_pipeline

BOTS = 6
PER_ROUND = 24
LIFETIME_S = 66  # with the 60 s refresh margin: due for renewal 6 s after it was issued
CLIENT = ("dropbox-app-key", "dropbox-app-secret-never-logged")


def oauth_credentials(refresh_token: str) -> dict[str, Any]:
    return {
        "access_token": "sl.expired-at-start",
        "refresh_token": refresh_token,
        "expires_at": time.time() - 1,
        "client_id": CLIENT[0],
        "client_secret": CLIENT[1],
    }


async def test_tokens_expiring_mid_run_are_renewed_once_each_and_every_upload_succeeds(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str
) -> None:
    async with FakeDropbox(tokens=()) as dropbox:
        dropbox.grants.lifetime_s = LIFETIME_S
        dropbox.grants.rotate = True

        def adjust(settings: Settings) -> Settings:
            endpoint = EndpointSettings(base_url=dropbox.base_url, token_url=dropbox.token_url)
            integrations = IntegrationSettings(endpoints={"dropbox": endpoint}, egress=LOOPBACK)
            return settings.model_copy(update={"integrations": integrations})

        async with running_pipeline(
            kafka_bootstrap, redis_url, tmp_path, unique, adjust=adjust
        ) as pipeline:
            bots = [pipeline.bot(n) for n in range(BOTS)]
            for n, _ in enumerate(bots):
                dropbox.grants.grant(*CLIENT, refresh_token=f"r0-{n}")
            pipeline.credentials_file.write_text(
                json.dumps(
                    {
                        b: {"dropbox": {"oauth": oauth_credentials(f"r0-{n}")}}
                        for n, b in enumerate(bots)
                    }
                )
            )
            fleet = Fleet.of(pipeline, 2, tmp_path)
            await fleet.start()
            sent: list[str] = []

            async def round_of(label: str) -> list[IntegrationResult]:
                for n in range(PER_ROUND):
                    config = {"path": f"/{label}/{n}.txt", "content_text": f"{label} {n}"}
                    request_id = await pipeline.publisher.publish(
                        bots[n % BOTS], "dropbox_upload_file", config
                    )
                    sent.append(str(request_id))
                wanted = set(sent)
                return await pipeline.results_until(
                    lambda rs: wanted <= {str(r.request_id) for r in rs}, timeout_s=90
                )

            try:
                await round_of("first")
                after_first = dropbox.grants.refreshes
                await asyncio.sleep(LIFETIME_S - 60 + 1)  # every token is now due
                results = await round_of("second")
            finally:
                logs = fleet.logs(400)
                await fleet.stop()

        assert {r.status for r in results} == {ResultStatus.SUCCEEDED}, logs
        assert len({str(r.request_id) for r in results}) == 2 * PER_ROUND
        # One refresh per bot per expiry, never a spent refresh token presented again.
        assert (after_first, dropbox.grants.refreshes) == (BOTS, 2 * BOTS), logs
        assert (dropbox.grants.reused, dropbox.grants.refused) == (0, 0), logs
        assert len(dropbox.files) == 2 * PER_ROUND
        stored = json.loads(pipeline.credentials_file.read_text())
        for n, b in enumerate(bots):
            oauth = stored[b]["dropbox"]["oauth"]
            assert oauth["version"] == 2
            assert oauth["refresh_token"] == dropbox.grants.grants[n].refresh_token
        # No token or secret in any result or log line.
        outputs = "\n".join(f"{r.response} {r.error}" for r in results) + logs
        secrets = [CLIENT[1], *(g.refresh_token or "" for g in dropbox.grants.grants)]
        secrets += [
            oauth["access_token"] for b in bots for oauth in [stored[b]["dropbox"]["oauth"]]
        ]
        assert not [s for s in secrets if s and s in outputs]


class PlatformApi(FakeServer[Any, Any]):
    """The platform's credentials API (GET and compare-and-set PUT) on loopback; while
    ``hold`` is set, a PUT waits, and is then dropped unstored (its writer is dead by then)."""

    token = "platform-service-token"

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.hold = asyncio.Event()
        self.released = asyncio.Event()
        self.held = 0
        self.stored = 0

    def routes(self, app: web.Application) -> None:
        path = "/internal/credentials/bots/{bot}/credentials/{provider}"
        app.router.add_get(path, self._get)
        app.router.add_put(path, self._put)

    def _key(self, request: web.Request) -> tuple[str, str, str]:
        info = request.match_info
        return info["bot"], info["provider"], request.query.get("strategy", "")

    async def _get(self, request: web.Request) -> web.Response:
        found = self.data.get(self._key(request))
        return web.json_response(found) if found else web.json_response({}, status=404)

    async def _put(self, request: web.Request) -> web.Response:
        key, body = self._key(request), await request.json()
        if self.hold.is_set():
            self.held += 1
            await self.released.wait()
            return web.json_response({"error": "writer gone"}, status=503)
        version = self.data.get(key, {}).get("version")
        matches = request.headers.get("If-Match", "") == (f'"{version}"' if version else "")
        fresh = version is None and request.headers.get("If-None-Match") == "*"
        if not (matches or fresh):
            return web.json_response({"error": "version_conflict"}, status=412)
        self.data[key] = body
        self.stored += 1
        return web.Response(status=204)


async def test_a_worker_killed_between_the_token_answer_and_the_write_back_loses_no_pair(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str
) -> None:
    """kill -9 while the renewed pair is on its way to the credentials API: the restarted worker
    finishes the write-back from Redis instead of spending the single-use refresh token again."""
    async with FakeDropbox(tokens=()) as dropbox, PlatformApi() as api:
        dropbox.grants.rotate = True
        dropbox.grants.grant(*CLIENT, refresh_token="r0")

        def adjust(settings: Settings) -> Settings:
            endpoint = EndpointSettings(base_url=dropbox.base_url, token_url=dropbox.token_url)
            credentials = settings.credentials.model_copy(
                update={
                    "source": "http",
                    "http_url": f"{api.url}/internal/credentials",
                    "http_token": SecretStr(api.token),
                }
            )
            return settings.model_copy(
                update={
                    "credentials": credentials,
                    "integrations": IntegrationSettings(
                        endpoints={"dropbox": endpoint}, egress=LOOPBACK
                    ),
                }
            )

        async with running_pipeline(
            kafka_bootstrap, redis_url, tmp_path, unique, adjust=adjust
        ) as pipeline:
            bot = pipeline.bot(1)
            api.data[(bot, "dropbox", "oauth")] = oauth_credentials("r0")
            api.hold.set()
            await pipeline.worker.astart()
            first = await pipeline.publisher.publish(
                bot, "dropbox_upload_file", {"path": "/crash/1.txt", "content_text": "one"}
            )
            deadline = time.monotonic() + 60
            while api.held == 0:  # the provider answered; the write-back is in flight
                assert time.monotonic() < deadline, pipeline.worker.tail()
                await asyncio.sleep(0.05)
            pipeline.worker.kill()
            api.hold.clear()
            api.released.set()
            assert (dropbox.grants.refreshes, api.stored) == (1, 0)

            await pipeline.worker.astart()
            second = await pipeline.publisher.publish(
                bot, "dropbox_upload_file", {"path": "/crash/2.txt", "content_text": "two"}
            )
            wanted = {str(first), str(second)}
            results = await pipeline.results_until(
                lambda rs: wanted <= {str(r.request_id) for r in rs}, timeout_s=90
            )
            logs = pipeline.worker.logs()

        answers = {str(r.request_id): r.status for r in results if str(r.request_id) in wanted}
        assert set(answers.values()) == {ResultStatus.SUCCEEDED}, logs[-3000:]
        # The pair the dead worker received was written back by the next one, not asked again.
        assert (dropbox.grants.refreshes, dropbox.grants.reused, api.stored) == (1, 0, 1)
        stored = api.data[(bot, "dropbox", "oauth")]
        assert stored["refresh_token"] == dropbox.grants.grants[0].refresh_token != "r0"
        assert stored["version"] == 1
        assert sorted(dropbox.files) == ["/crash/1.txt", "/crash/2.txt"]
