"""N10: a webhook URL on an IPv6 address embedding a private IPv4 address is refused, as for relays."""

from __future__ import annotations

from typing import Any

import pytest

from tests.relays.test_relay_guard import EMBEDDED


@pytest.mark.parametrize("address", EMBEDDED)
def test_a_webhook_on_an_embedded_private_address_is_a_422(client_factory: Any, address: str) -> None:
    _, client, tenant = client_factory(WEBHOOK_ALLOW_PRIVATE=False)
    response = client.post("/v1/webhooks", json={"url": f"https://[{address}]/hook", "events": ["message.sent"]},
                           headers=tenant.admin)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][0]["field"] == "url"
    assert address not in response.get_data(as_text=True)
