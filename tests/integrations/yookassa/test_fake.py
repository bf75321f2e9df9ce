"""The fake YooKassa itself: the rules it enforces that the action never breaks on purpose."""

from __future__ import annotations

import httpx

from integrations.yookassa.testing import FakeYooKassa

AUTH = ("123456", "s3cret-key")
BODY = {
    "amount": {"value": "1.00", "currency": "RUB"},
    "confirmation": {"type": "redirect", "return_url": "https://x.example"},
}


async def test_wire_rules_and_get() -> None:
    async with (
        FakeYooKassa(secret_key="s3cret-key") as fake,
        httpx.AsyncClient(base_url=fake.base_url + "/", auth=AUTH) as http,
    ):
        missing = await http.post("payments", json=BODY)
        assert missing.status_code == 400
        assert missing.json()["parameter"] == "Idempotence-Key"
        wrong_spelling = await http.post("payments", json=BODY, headers={"Idempotency-Key": "k"})
        assert wrong_spelling.status_code == 400
        too_long = await http.post("payments", json=BODY, headers={"Idempotence-Key": "k" * 65})
        assert too_long.status_code == 400
        form = await http.post("payments", data={"a": "b"}, headers={"Idempotence-Key": "k"})
        assert form.status_code == 415
        bad_amount = await http.post(
            "payments",
            json={**BODY, "amount": {"value": "1", "currency": "RUB"}},
            headers={"Idempotence-Key": "k1"},
        )
        assert (bad_amount.status_code, bad_amount.json()["parameter"]) == (400, "amount.value")
        created = await http.post("payments", json=BODY, headers={"Idempotence-Key": "k2"})
        assert created.status_code == 200
        payment = created.json()
        fetched = await http.get(f"payments/{payment['id']}")
        assert fetched.json() == payment
        assert (await http.get("payments/nope")).status_code == 404
        unauthorised = await http.get(f"payments/{payment['id']}", auth=("123456", "other"))
        assert unauthorised.json()["code"] == "invalid_credentials"
    assert [c.status for c in fake.calls] == [400, 400, 400, 415, 400, 200, 200, 404, 401]
    fake.clear()
    assert fake.calls == [] and fake.payments == {}
