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

from integrations.dropbox.testing import FakeDropbox
from integrations.testing import LOOPBACK
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
