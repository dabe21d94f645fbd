"""What `sui client publish --json` printed, read back into the ids a deployment file needs.

The CLI prints a `SuiTransactionBlockResponse` (camelCase JSON): `digest`, `effects` (with
`status.status` "success" or "failure"), and `objectChanges`, a list tagged by `type`:
`published` (`packageId`, `modules`) and `created` (`objectType`, `objectId`, `owner`) among
others. Our package's `init` functions create the AdminCap (owned by the publisher), the shared
StakingPool and the shared EnclaveConfig; this module finds them there so no operator copies
ids by hand. Build messages the CLI prints before the JSON are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from k3s_daas.chain.deployment import CLOCK_ID, Deployment, DeploymentError
from k3s_daas.chain.endpoint import Endpoint
from k3s_daas.seal.sui import normalize_address, normalize_type

#: The modules our package publishes (a publish of anything else is refused).
PACKAGE_MODULES = ("k8s_gateway", "nautilus", "staking")
#: (deployment field, module, struct, owner kind) of each object our `init` functions create.
INIT_OBJECTS = (
    ("admin_cap_id", "staking", "AdminCap", "AddressOwner"),
    ("pool_id", "staking", "StakingPool", "Shared"),
    ("enclave_config_id", "nautilus", "EnclaveConfig", "Shared"),
)
_HINT = "expected the JSON `sui client publish --json` prints"


class PublishOutputError(DeploymentError):
    """The file is not a successful publish of our package (one line, what is wrong)."""

    reason = "bad_publish_output"


@dataclass(frozen=True)
class PublishRecord:
    """The ids of one publish of our package."""

    digest: str
    package_id: str
    pool_id: str
    enclave_config_id: str
    admin_cap_id: str
    admin_address: str  # the AdminCap's owner: the key that must sign `update_pcrs`

    def deployment(
        self, chain_id: str, endpoints: Sequence[str | Endpoint], **extra: str | None
    ) -> Deployment:
        """The deployment file for this publish (`extra`: faucet_url, attestation paths...)."""
        return Deployment.model_validate(
            {
                "chain_id": chain_id,
                "grpc_endpoints": [str(e) for e in endpoints],
                "package_id": self.package_id,
                "pool_id": self.pool_id,
                "enclave_config_id": self.enclave_config_id,
                "clock_id": CLOCK_ID,
                "admin_cap_id": self.admin_cap_id,
                **{k: v for k, v in extra.items() if v is not None},
            }
        )


def _json_document(text: str, source: str) -> dict[str, Any]:
    """The JSON object in `text`; the CLI's build lines before it (when stderr was captured
    too) are skipped: the document starts at the first line that opens with `{`."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
        decoder = json.JSONDecoder()
        offset = 0
        for line in text.splitlines(keepends=True):
            if line.startswith("{"):
                try:
                    value = decoder.raw_decode(text, offset)[0]
                    break
                except ValueError:
                    pass
            offset += len(line)
        if value is None:
            raise PublishOutputError(f"{source} is not JSON: {_HINT}") from None
    if not isinstance(value, dict):
        raise PublishOutputError(f"{source} holds a JSON {type(value).__name__}: {_HINT}")
    return value


def _text(entry: dict[str, Any], key: str, source: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        kind = entry.get("type", "?")
        raise PublishOutputError(f"{source}: a {kind!s:.20} object change has no {key}")
    return value


def _address(text: str, what: str, source: str) -> str:
    try:
        return normalize_address(text)
    except ValueError:
        raise PublishOutputError(f"{source}: {what} is not a Sui id: {text[:80]!r}") from None


def _owner_kind(owner: Any) -> tuple[str, str | None]:
    """("AddressOwner", address) / ("Shared", None) / ("Immutable", None) / ... from Sui's
    owner JSON: `{"AddressOwner": "0x…"}`, `{"Shared": {"initial_shared_version": N}}`,
    `"Immutable"`, `{"ObjectOwner": "0x…"}`, `{"ConsensusAddressOwner": {...}}`."""
    if isinstance(owner, str):
        return owner, None
    if isinstance(owner, dict) and len(owner) == 1:
        kind, value = next(iter(owner.items()))
        return str(kind), value if isinstance(value, str) else None
    return "unknown", None


def _check_status(doc: dict[str, Any], source: str) -> None:
    effects = doc.get("effects")
    status = effects.get("status") if isinstance(effects, dict) else None
    if isinstance(status, dict) and status.get("status") not in (None, "success"):
        error = str(status.get("error", "no error given"))[:200]
        raise PublishOutputError(
            f"{source}: the publish transaction {doc.get('digest', '?')} failed on chain: {error}"
        )


def parse_publish_output(text: str, source: str = "publish output") -> PublishRecord:
    """The ids in a `sui client publish --json` output; PublishOutputError names what is wrong."""
    doc = _json_document(text, source)
    changes = doc.get("objectChanges")
    if not isinstance(changes, list):
        raise PublishOutputError(f"{source} has no objectChanges list: {_HINT}")
    _check_status(doc, source)
    entries = [c for c in changes if isinstance(c, dict)]
    published = [c for c in entries if c.get("type") == "published"]
    if len(published) != 1:
        raise PublishOutputError(
            f"{source} publishes {len(published)} packages (objectChanges of type "
            f"'published'); a publish of k3s_daas has exactly one"
        )
    package_id = _address(_text(published[0], "packageId", source), "packageId", source)
    modules = published[0].get("modules")
    if isinstance(modules, list) and sorted(str(m) for m in modules) != sorted(PACKAGE_MODULES):
        names = ", ".join(str(m) for m in modules)[:120]
        raise PublishOutputError(
            f"{source}: package {package_id} has modules [{names}], not k3s_daas "
            f"({', '.join(PACKAGE_MODULES)})"
        )
    created = [c for c in entries if c.get("type") == "created"]
    ids: dict[str, str] = {}
    admin = ""
    for field_name, module, struct, owner_kind in INIT_OBJECTS:
        wanted = f"{package_id}::{module}::{struct}"
        found = [c for c in created if normalize_type(str(c.get("objectType", ""))) == wanted]
        if len(found) != 1:
            raise PublishOutputError(
                f"{source} lacks the {module}::{struct} object of package {package_id} "
                f"({len(found)} created): was this the publish of k3s_daas?"
            )
        kind, owner = _owner_kind(found[0].get("owner"))
        if kind != owner_kind:
            raise PublishOutputError(
                f"{source}: {module}::{struct} is owned {kind!s:.30}, expected {owner_kind}"
            )
        ids[field_name] = _address(_text(found[0], "objectId", source), "objectId", source)
        if owner is not None:
            admin = _address(owner, "the AdminCap owner", source)
    return PublishRecord(
        digest=str(doc.get("digest", "")),
        package_id=package_id,
        admin_address=admin,
        **ids,
    )


__all__ = ["INIT_OBJECTS", "PACKAGE_MODULES", "PublishOutputError", "PublishRecord",
           "parse_publish_output"]  # fmt: skip
