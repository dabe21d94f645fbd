"""What a validated Seal token says about its holder: the master's unit of identity."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from k3s_daas.seal.constants import STAKE_TYPE_NODE
from k3s_daas.seal.permissions import Tier


class Claims(BaseModel):
    """Identity and rights read from a SealToken and its StakeRecord (never from the client)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: str = Field(description="Sui address of the staker (0x + 64 hex)")
    node_id: str = Field(description="node the stake is for; empty for a user stake")
    stake_type: int = STAKE_TYPE_NODE
    stake_amount: int = Field(ge=0, description="MIST")
    permissions: tuple[str, ...]
    tier: Tier
    expires_at_epoch: int = Field(ge=0)
    token_id: str
    stake_record_id: str
    enclave_id: str
    checkpoint: int | None = Field(
        default=None,
        description="verified checkpoint as of which the SealToken and StakeRecord were read "
        "unchanged (None: read without verification)",
    )

    @property
    def is_node(self) -> bool:
        return self.stake_type == STAKE_TYPE_NODE

    @property
    def username(self) -> str:
        """Kubernetes user name: node tokens act as the kubelet, user tokens as the staker."""
        return f"system:node:{self.node_id}" if self.is_node else f"seal:{self.owner}"

    @property
    def groups(self) -> list[str]:
        if self.is_node:
            return ["system:nodes", "system:authenticated"]
        return [
            f"seal:tier:{self.tier.label}",
            *(f"seal:perm:{p}" for p in self.permissions),
            "system:authenticated",
        ]
