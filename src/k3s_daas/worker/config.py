"""Worker configuration in the seed's JSON keys, with `K3S_DAAS_WORKER_*` env overrides.

The seed's file (`node_id`, `sui_wallet_address`, `sui_private_key`, `sui_rpc_endpoint`,
`stake_amount`, `contract_address`, `nautilus_endpoint`, `container_runtime`,
`min_stake_amount`) loads unchanged; endpoints may also be lists (failover). `MOCK_MODE=true`
means "use the embedded devnet" (its devnet.json): validation stays real, no token is faked.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from k3s_daas.chain import Deployment
from k3s_daas.chain.keys import KeyError_, SuiKeyPair, normalize_address
from k3s_daas.seal.amounts import format_amount, parse_amount
from k3s_daas.seal.constants import MAX_NODE_ID_LENGTH, MIN_STAKE
from k3s_daas.seal.encoding import first_error
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.settings import Settings

EnvList = Annotated[list[str], NoDecode]  # "a,b" in env, a JSON list or a string in the file
_NODE_ID_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class WorkerConfigError(K3sDaasError):
    reason = "bad_config"


def _as_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class WorkerConfig(BaseSettings):
    """Everything a worker needs; secrets are read from files or env, never logged."""

    model_config = SettingsConfigDict(env_prefix="K3S_DAAS_WORKER_", extra="forbid")

    node_id: str = Field(description="Kubernetes node name (a DNS label); one stake per node")
    sui_wallet_address: str | None = Field(
        default=None, description="optional: checked against the key's address"
    )
    sui_private_key: str | None = Field(default=None, description="suiprivkey1... (prefer a file)")
    sui_key_file: Path | None = Field(default=None, description="key file, mode 0600")
    sui_rpc_endpoint: EnvList = Field(default_factory=list, description="gRPC v2 endpoints")
    stake_amount: int = Field(
        default=1_000, gt=0, description="how much to stake: 1.5SUI, 100MIST or MIST"
    )
    contract_address: str | None = Field(default=None, description="package id (checked)")
    nautilus_endpoint: EnvList = Field(
        default_factory=list,
        description="master URLs, tried in order (none: the endpoints enclaves advertise on chain)",
    )
    container_runtime: str = "containerd"
    min_stake_amount: int = Field(default=MIN_STAKE, gt=0, description="1.5SUI, 100MIST or MIST")
    mock_mode: bool = Field(default=False, description="seed switch: use the embedded devnet")
    deployment: Path | None = Field(default=None, description="devnet.json / deployment file")
    state_file: Path = Field(
        default_factory=lambda: Settings().home / "worker" / "state.json",
        description="the agent's state (0600); default <home>/worker/state.json",
    )
    heartbeat_interval: float = Field(default=10.0, gt=0.05, le=3600)
    heartbeat_jitter: float = Field(default=0.1, ge=0, le=0.5, description="fraction")
    max_backoff: float = Field(default=30.0, gt=0)
    rotate_before_epochs: int = Field(default=1, ge=1, description="rotate this early")
    mode: Literal["standalone", "k3s"] = "standalone"
    k3s_binary: str = "k3s"
    k3s_args: EnvList = Field(default_factory=list)
    k3s_killall: str = Field(
        default="/usr/local/bin/k3s-killall.sh",
        description="k3s mode: run after `k3s agent` is stopped on a revocation, to stop the "
        "node's containers and unmount their volumes the way K3s's own script does "
        "('': only stop `k3s agent`)",
    )
    k3s_killall_timeout: float = Field(default=120.0, gt=0, description="seconds, then killed")
    metrics_host: str = Field(default="127.0.0.1", description="where /metrics is served")
    metrics_port: int | None = Field(
        default=9464, ge=0, le=65535, description="/metrics port (0: any free one; null: off)"
    )
    request_timeout: float = Field(default=10.0, gt=0, description="register, leave, attest")
    connect_timeout: float = Field(
        default=2.0, gt=0, description="opening a connection to a master (failover moves on)"
    )

    @field_validator("sui_rpc_endpoint", "nautilus_endpoint", "k3s_args", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("stake_amount", "min_stake_amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return parse_amount(value)
        return value

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str) -> str:
        if len(value) > MAX_NODE_ID_LENGTH or not _NODE_ID_RE.fullmatch(value):
            raise ValueError("must be a DNS label: lower-case letters, digits and '-', ≤ 63")
        return value

    @model_validator(mode="after")
    def _check(self) -> WorkerConfig:
        if self.stake_amount < self.min_stake_amount:
            raise ValueError(
                f"stake_amount {format_amount(self.stake_amount)} is below min_stake_amount "
                f"{format_amount(self.min_stake_amount)}"
            )
        if self.sui_private_key is None and self.sui_key_file is None:
            raise ValueError("give sui_key_file (preferred) or sui_private_key")
        for url in self.nautilus_endpoint:
            if not url.startswith("https://"):
                raise ValueError(f"nautilus_endpoint {url!r} must be https:// (attested TLS)")
        return self

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None, **overrides: Any) -> WorkerConfig:
        """File values < environment < explicit overrides; one clear error for any mistake."""
        data: dict[str, Any] = {}
        if path is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError as exc:
                raise WorkerConfigError(f"config file {path} not found") from exc
            except json.JSONDecodeError as exc:
                raise WorkerConfigError(
                    f"{path}: not JSON ({exc.msg} at line {exc.lineno})"
                ) from exc
            if not isinstance(data, dict):
                raise WorkerConfigError(f"{path}: must hold a JSON object")
        if os.environ.get("MOCK_MODE", "").lower() in {"1", "true", "yes"}:
            data.setdefault("mock_mode", True)
        prefix = cls.model_config.get("env_prefix", "")
        for key in list(data):  # env beats file: drop file keys that env sets
            if f"{prefix}{key}".upper() in os.environ:
                data.pop(key)
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**data)
        except ValidationError as exc:
            raise WorkerConfigError(first_error(exc, "config")) from exc
        except SettingsError as exc:
            raise WorkerConfigError(str(exc)) from exc

    def key(self) -> SuiKeyPair:
        try:
            if self.sui_key_file is not None:
                key = SuiKeyPair.load(self.sui_key_file)
            else:
                assert self.sui_private_key is not None
                key = SuiKeyPair.from_string(self.sui_private_key)
        except FileNotFoundError as exc:
            raise WorkerConfigError(f"key file {self.sui_key_file} not found") from exc
        except KeyError_ as exc:
            raise WorkerConfigError(f"sui key: {exc.message}", reason=exc.reason) from exc
        if (
            self.sui_wallet_address is not None
            and normalize_address(self.sui_wallet_address) != key.address
        ):
            raise WorkerConfigError("sui_wallet_address does not match the key's address")
        return key

    def resolve_deployment(self) -> Deployment:
        """The package/pool ids and chain endpoints; devnet.json in mock mode."""
        path = self.deployment
        if path is None and self.mock_mode:
            path = Settings().devnet_json
        if path is None:
            raise WorkerConfigError("no deployment file: set `deployment` (or MOCK_MODE=true)")
        deployment = Deployment.load(path).with_endpoints(self.sui_rpc_endpoint)
        if self.contract_address is not None and normalize_address(
            self.contract_address
        ) != normalize_address(deployment.package_id):
            raise WorkerConfigError("contract_address does not match the deployment's package")
        return deployment
