"""Where the `k3s_daas` package lives on a chain: the ids every command needs.

The devnet writes this as `devnet.json` at genesis; for a real network an operator writes the same
file by hand after `sui client publish`. Commands read it instead of taking six ids as flags.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from k3s_daas.chain.endpoint import Endpoint, parse_endpoints
from k3s_daas.chain.errors import ChainError
from k3s_daas.seal.encoding import first_error
from k3s_daas.seal.errors import K3sDaasError

if TYPE_CHECKING:
    from k3s_daas.chain.certified.committee import Committee

CLOCK_ID = "0x" + "6".rjust(64, "0")
#: A compressed G2 key (`bls.PUBLIC_KEY_LENGTH`; not imported: loading this file stays light).
_PUBLIC_KEY_LENGTH: Final = 96


def _endpoint(value: Any) -> Endpoint:
    try:
        return Endpoint.parse(value)
    except ChainError as exc:
        raise PydanticCustomError("bad_endpoint", "{problem}", {"problem": exc.message}) from None


#: An endpoint field: text in files and settings, an `Endpoint` once loaded (parsed here, once).
EndpointField = Annotated[
    Endpoint,
    PlainValidator(_endpoint),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "description": "host:port or https://host[:port]"}),
]


class DeploymentError(K3sDaasError):
    reason = "bad_deployment"


class AnchorMember(BaseModel):
    """One validator of the anchor committee: its BLS12-381 G2 key (hex) and its stake."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_key: str
    weight: int = Field(gt=0, lt=2**64)

    @field_validator("public_key")
    @classmethod
    def _hex_key(cls, value: str) -> str:
        text = value.removeprefix("0x").lower()
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError("a validator public key is hex") from None
        if len(raw) != _PUBLIC_KEY_LENGTH:
            raise ValueError(f"a validator public key is {_PUBLIC_KEY_LENGTH} bytes")
        return text


class CommitteeAnchor(BaseModel):
    """The committee the checkpoint verifier starts from (the trusted anchor): the validators of
    `epoch`, as sui.rpc.v2's `ValidatorCommittee` names them. The devnet writes its genesis
    committee here; for a real network an operator copies one from a source it trusts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epoch: int = Field(ge=0, lt=2**64)
    members: list[AnchorMember] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> CommitteeAnchor:
        if len({m.public_key for m in self.members}) != len(self.members):
            raise ValueError("a validator public key appears twice")
        return self

    @classmethod
    def of(cls, committee: Committee) -> CommitteeAnchor:
        return cls(
            epoch=committee.epoch,
            members=[
                AnchorMember(public_key=m.public_key.hex(), weight=m.stake)
                for m in committee.members
            ],
        )

    def committee(self) -> Committee:
        """The anchor as a `Committee` (members in Sui's order, sorted by key)."""
        from k3s_daas.chain.certified.committee import Committee, CommitteeMember

        return Committee.of(
            self.epoch,
            (CommitteeMember(bytes.fromhex(m.public_key), m.weight) for m in self.members),
        )


class Deployment(BaseModel):
    """Ids of the published package and its shared objects, plus how to reach the chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chain_id: str
    grpc_endpoints: list[EndpointField] = Field(min_length=1)
    package_id: str
    pool_id: str
    enclave_config_id: str
    clock_id: str = CLOCK_ID
    admin_cap_id: str | None = None
    admin_key_path: str | None = Field(default=None, description="devnet only: the admin's key")
    faucet_url: str | None = None
    admin_url: str | None = Field(default=None, description="devnet only: epoch/slash helpers")
    attestation_root_path: str | None = Field(
        default=None, description="PEM root the enclave attestation chains to (devnet: dev CA)"
    )
    attestation_ca_key_path: str | None = Field(
        default=None, description="devnet only: the dev CA key the simulated enclave signs with"
    )
    committee: CommitteeAnchor | None = Field(
        default=None, description="the validator committee checkpoints are verified from"
    )

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError as exc:
            raise DeploymentError(
                f"{path} not found: start a devnet (`k3s-daas devnet start`) or import a "
                "publish (`k3s-daas chain import-publish`)",
                reason="no_deployment",
            ) from exc
        except ValidationError as exc:
            raise DeploymentError(f"{path}: {first_error(exc, 'deployment')}") from exc

    def with_endpoints(self, endpoints: Sequence[str | Endpoint] | None) -> Deployment:
        """This deployment reached through `endpoints` instead (an operator's override); none
        keeps the file's. A bad one raises ChainError(reason="bad_endpoint") here, at load."""
        if not endpoints:
            return self
        return self.model_copy(update={"grpc_endpoints": parse_endpoints(endpoints)})

    def save(self, path: Path) -> None:
        """Atomic write (temp file + rename) so a reader never sees half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.model_dump(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def type_of(self, module: str, struct: str) -> str:
        """Full Move type, e.g. `<package>::k8s_gateway::SealToken`."""
        return f"{self.package_id}::{module}::{struct}"
