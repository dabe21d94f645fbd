"""The one faucet client: Sui's request body, the coins it answers, and one FaucetError (with the
faucet's own message and reason) for a refusal, a broken answer or an unreachable faucet."""

from __future__ import annotations

import json

import httpx
import pytest

from k3s_daas.chain import ChainError, CoinSent, FaucetError, request_gas, request_gas_sync
from k3s_daas.chain.faucet import gas_request

FAUCET = "http://127.0.0.1:9123"
ADDRESS = "0x" + "ab" * 32


def faucet_app(seen: list[dict[str, object]]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path == "/v2/gas"
        body = json.loads(request.content)
        seen.append(body)
        recipient = body["FixedAmountRequest"]["recipient"]
        if recipient == "0xnothex":
            failure = {"Failure": {"Internal": "not a Sui address: '0xnothex'"}}
            answer = {"status": failure, "coins_sent": None, "reason": "invalid_address"}
            return httpx.Response(400, json=answer)
        if recipient == "0xbroken":
            return httpx.Response(200, json={"status": "Success", "coins_sent": [{"id": 1}]})
        if recipient == "0xteapot":
            return httpx.Response(418, text="no")
        amount = body["FixedAmountRequest"].get("amount", 7)
        coin = {"amount": amount, "id": "0x" + "c0" * 32, "transferTxDigest": "D1GEST"}
        return httpx.Response(200, json={"status": "Success", "coins_sent": [coin]})

    return httpx.MockTransport(handle)


def test_body_is_suis_fixed_amount_request() -> None:
    assert gas_request(ADDRESS) == {"FixedAmountRequest": {"recipient": ADDRESS}}
    assert gas_request(ADDRESS, 5) == {"FixedAmountRequest": {"recipient": ADDRESS, "amount": 5}}


async def test_async_request_returns_the_coins_sent() -> None:
    seen: list[dict[str, object]] = []
    async with httpx.AsyncClient(transport=faucet_app(seen)) as http:
        coins = await request_gas(FAUCET, ADDRESS, amount=42, http=http)
    assert coins == [CoinSent(42, "0x" + "c0" * 32, "D1GEST")]
    assert seen == [gas_request(ADDRESS, 42)]


def test_sync_request_and_its_errors() -> None:
    seen: list[dict[str, object]] = []
    with httpx.Client(transport=faucet_app(seen)) as http:
        assert request_gas_sync(FAUCET + "/", ADDRESS, http=http)[0].amount == 7
        with pytest.raises(FaucetError) as refused:
            request_gas_sync(FAUCET, "0xnothex", http=http)
        with pytest.raises(FaucetError) as teapot:
            request_gas_sync(FAUCET, "0xteapot", http=http)
        with pytest.raises(FaucetError) as broken:
            request_gas_sync(FAUCET, "0xbroken", http=http)
    assert isinstance(refused.value, ChainError)
    assert refused.value.reason == "invalid_address"
    assert refused.value.status == 400
    assert refused.value.message == "faucet answered 400: not a Sui address: '0xnothex'"
    assert (teapot.value.reason, teapot.value.message) == ("faucet_failed", "faucet answered 418")
    assert broken.value.reason == "bad_answer"


async def test_unreachable_faucet_is_one_clear_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(FaucetError) as err:
            await request_gas(FAUCET, ADDRESS, http=http)
    assert err.value.reason == "faucet_unreachable"
    assert err.value.message == f"faucet not reachable at {FAUCET}/v2/gas: ConnectError"
