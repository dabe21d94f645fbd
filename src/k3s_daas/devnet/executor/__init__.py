"""The devnet's transaction executor: input checks, PTB arguments and commands, gas, effects."""

from k3s_daas.devnet.executor.arguments import decode_pure, type_tag_str
from k3s_daas.devnet.executor.executor import Executor
from k3s_daas.devnet.executor.gas import COMPUTATION_UNITS_PER_COMMAND, storage_cost

__all__ = [
    "COMPUTATION_UNITS_PER_COMMAND",
    "Executor",
    "decode_pure",
    "storage_cost",
    "type_tag_str",
]
