"""Process-wide settings (pydantic-settings): defaults < config file values < `K3S_DAAS_*` env."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings every command shares; each service adds its own model with its own prefix."""

    model_config = SettingsConfigDict(env_prefix="K3S_DAAS_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".k3s-daas",
        description="Working directory for devnet data, keys, state and kubeconfig",
    )
    log_level: str = "info"
    log_json: bool | None = None

    @field_validator("home", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def devnet_dir(self) -> Path:
        return self.home / "devnet"

    @property
    def devnet_json(self) -> Path:
        return self.devnet_dir / "devnet.json"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"
