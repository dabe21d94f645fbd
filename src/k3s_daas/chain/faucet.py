"""The faucet client: `POST {faucet}/v2/gas` with Sui's `FixedAmountRequest`, one implementation.

Only development chains have a faucet (the devnet's, Sui's devnet/testnet); the worker, the
master, the CLI and the tests ask it for gas the same way and get the same `FaucetError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from k3s_daas.chain.errors import ChainError

DEFAULT_TIMEOUT = 10.0


class FaucetError(ChainError):
    """The faucet was not reachable, or refused (`status` is its HTTP status, `reason` its
    reason code when it gave one)."""

    reason = "faucet_failed"

    def __init__(self, message: str, *, reason: str | None = None, status: int | None = None):
        super().__init__(message, reason=reason)
        self.status = status


@dataclass(frozen=True)
class CoinSent:
    """One coin the faucet sent."""

    amount: int
    object_id: str
    tx_digest: str


def gas_path(faucet_url: str) -> str:
    return f"{faucet_url.rstrip('/')}/v2/gas"


def gas_request(recipient: str, amount: int | None = None) -> dict[str, Any]:
    """Sui's faucet body; `amount` (MIST) is the devnet's extension."""
    body: dict[str, Any] = {"recipient": recipient}
    if amount is not None:
        body["amount"] = amount
    return {"FixedAmountRequest": body}


def _unreachable(url: str, exc: httpx.HTTPError) -> FaucetError:
    return FaucetError(
        f"faucet not reachable at {url}: {exc.__class__.__name__}", reason="faucet_unreachable"
    )


def _coins(url: str, response: httpx.Response) -> list[CoinSent]:
    """The coins sent, or FaucetError with the faucet's own message and reason code."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not 200 <= response.status_code < 300:
        detail, reason = "", None
        if isinstance(payload, dict):
            status = payload.get("status")
            failure = status.get("Failure") if isinstance(status, dict) else None
            detail = str(failure.get("Internal", "")) if isinstance(failure, dict) else ""
            reason = payload.get("reason") if isinstance(payload.get("reason"), str) else None
        message = f"faucet answered {response.status_code}" + (f": {detail}" if detail else "")
        raise FaucetError(message[:300], reason=reason, status=response.status_code)
    sent = payload.get("coins_sent") if isinstance(payload, dict) else None
    try:
        return [
            CoinSent(int(c["amount"]), str(c["id"]), str(c["transferTxDigest"])) for c in sent or []
        ]
    except (KeyError, TypeError, ValueError):
        raise FaucetError(f"{url}: answer without coins_sent", reason="bad_answer") from None


async def request_gas(
    faucet_url: str,
    recipient: str,
    *,
    amount: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    http: httpx.AsyncClient | None = None,
) -> list[CoinSent]:
    """Ask the faucet for gas for `recipient` (reusing `http` when given)."""
    url = gas_path(faucet_url)
    try:
        if http is not None:
            response = await http.post(url, json=gas_request(recipient, amount), timeout=timeout)
        else:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(url, json=gas_request(recipient, amount))
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    return _coins(url, response)


def request_gas_sync(
    faucet_url: str,
    recipient: str,
    *,
    amount: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    http: httpx.Client | None = None,
) -> list[CoinSent]:
    """`request_gas` for synchronous callers (the CLI, test fixtures)."""
    url = gas_path(faucet_url)
    body = gas_request(recipient, amount)
    try:
        if http is not None:
            response = http.post(url, json=body, timeout=timeout)
        else:
            response = httpx.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    return _coins(url, response)


__all__ = ["CoinSent", "FaucetError", "gas_path", "gas_request", "request_gas", "request_gas_sync"]
