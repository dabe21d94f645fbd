"""The chain layer's front door: import what you need from `k3s_daas.chain`.

    from k3s_daas.chain import ChainClient, Deployment, K3sDaasPackage, subscribe

Names load on first use (PEP 562): the gRPC stack costs about half a second to import, and a
command that only needs `SuiKeyPair` or `Deployment` must not pay for it. Modules inside the
package import each other directly, never through this file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from k3s_daas.chain.lean_pysui import install as _install_lean_pysui

_install_lean_pysui()  # before any module here imports pysui: ~14 MB less (see lean_pysui)

if TYPE_CHECKING:
    from k3s_daas.chain.batch import BatchObserver, ObjectFetcher
    from k3s_daas.chain.bls import BlsError, BlsPrivateKey
    from k3s_daas.chain.certified.committee import Committee, CommitteeMember
    from k3s_daas.chain.client import ChainClient
    from k3s_daas.chain.convert import checkpoint_events
    from k3s_daas.chain.deployment import CLOCK_ID, Deployment, DeploymentError
    from k3s_daas.chain.endpoint import Endpoint
    from k3s_daas.chain.errors import (
        ChainError,
        ChainUnavailable,
        FailedCheck,
        MalformedObject,
        MoveAbortError,
        ObjectNotFound,
        TransactionFailed,
        TransactionOutcomeUnknown,
        TransactionRejected,
        UnverifiedChainData,
        WrongObjectType,
    )
    from k3s_daas.chain.events import CursorStore, FileCursorStore, MemoryCursorStore, subscribe
    from k3s_daas.chain.faucet import CoinSent, FaucetError, request_gas, request_gas_sync
    from k3s_daas.chain.follow import (
        FOLLOW_MODES,
        FillCause,
        FollowMode,
        FollowObserver,
        FollowSettings,
        follow_checkpoints,
    )
    from k3s_daas.chain.keys import (
        KeyError_,
        SignatureError,
        SuiKeyPair,
        decode_signature,
        recover_personal_message_signer,
        transaction_digest,
        verify_personal_message,
        verify_transaction_signature,
    )
    from k3s_daas.chain.multisig import MultiSig, MultiSigCommittee
    from k3s_daas.chain.operator import PcrPin, check_pcrs, pcr_problem, pin_pcrs, short_hex
    from k3s_daas.chain.package import DEFAULT_GAS_BUDGET, K3sDaasPackage, MintedToken
    from k3s_daas.chain.publish import (
        PACKAGE_MODULES,
        PublishOutputError,
        PublishRecord,
        parse_publish_output,
    )
    from k3s_daas.chain.reader import (
        BalanceReader,
        ChainReader,
        ChainSource,
        CheckpointSource,
        ObjectReader,
        StakeHints,
    )
    from k3s_daas.chain.records import (
        EpochInfo,
        EventData,
        ObjectChange,
        ObjectData,
        ObjectRef,
        TxResult,
    )
    from k3s_daas.chain.schemes import SCHEME_NAMES, SchemeName
    from k3s_daas.chain.transactions import ProgrammableTransaction, SignedTransaction, sign
    from k3s_daas.chain.verification import (
        RemoteVerifier,
        SignatureUnsupported,
        Verdict,
        needs_full_node,
        verify_owner_signature,
    )
    from k3s_daas.chain.verified import VerifiedChain, open_chain_source
    from k3s_daas.chain.verifier import (
        CheckpointVerifier,
        VerifiedCheckpoint,
        VerifiedEffects,
        parse_certificate,
        verify_effects,
        verify_events,
        verify_object,
        with_contents,
    )
    from k3s_daas.chain.views import (
        EnclaveConfigView,
        EnclaveView,
        ObjectView,
        SealTokenView,
        StakeRecordView,
        StakingPoolView,
    )

#: Public name -> the module that defines it.
_HOMES: dict[str, str] = {
    **dict.fromkeys(["BatchObserver", "ObjectFetcher"], "batch"),
    **dict.fromkeys(["BlsError", "BlsPrivateKey"], "bls"),
    **dict.fromkeys(["Committee", "CommitteeMember"], "certified.committee"),
    "ChainClient": "client",
    "checkpoint_events": "convert",
    **dict.fromkeys(["CLOCK_ID", "Deployment", "DeploymentError"], "deployment"),
    "Endpoint": "endpoint",
    **dict.fromkeys(
        [
            "ChainError",
            "ChainUnavailable",
            "FailedCheck",
            "MalformedObject",
            "MoveAbortError",
            "ObjectNotFound",
            "TransactionFailed",
            "TransactionOutcomeUnknown",
            "TransactionRejected",
            "UnverifiedChainData",
            "WrongObjectType",
        ],
        "errors",
    ),
    **dict.fromkeys(["CursorStore", "FileCursorStore", "MemoryCursorStore", "subscribe"], "events"),
    **dict.fromkeys(["CoinSent", "FaucetError", "request_gas", "request_gas_sync"], "faucet"),
    **dict.fromkeys(
        [
            "FOLLOW_MODES",
            "FillCause",
            "FollowMode",
            "FollowObserver",
            "FollowSettings",
            "follow_checkpoints",
        ],
        "follow",
    ),
    **dict.fromkeys(
        [
            "KeyError_",
            "SignatureError",
            "SuiKeyPair",
            "decode_signature",
            "recover_personal_message_signer",
            "transaction_digest",
            "verify_personal_message",
            "verify_transaction_signature",
        ],
        "keys",
    ),
    **dict.fromkeys(["PcrPin", "check_pcrs", "pcr_problem", "pin_pcrs", "short_hex"], "operator"),
    **dict.fromkeys(["MultiSig", "MultiSigCommittee"], "multisig"),
    **dict.fromkeys(["DEFAULT_GAS_BUDGET", "K3sDaasPackage", "MintedToken"], "package"),
    **dict.fromkeys(
        ["PACKAGE_MODULES", "PublishOutputError", "PublishRecord", "parse_publish_output"],
        "publish",
    ),
    **dict.fromkeys(
        [
            "BalanceReader",
            "ChainReader",
            "ChainSource",
            "CheckpointSource",
            "ObjectReader",
            "StakeHints",
        ],
        "reader",
    ),
    **dict.fromkeys(["VerifiedChain", "open_chain_source"], "verified"),
    **dict.fromkeys(
        ["EpochInfo", "EventData", "ObjectChange", "ObjectData", "ObjectRef", "TxResult"],
        "records",
    ),
    **dict.fromkeys(["SCHEME_NAMES", "SchemeName"], "schemes"),
    **dict.fromkeys(["ProgrammableTransaction", "SignedTransaction", "sign"], "transactions"),
    **dict.fromkeys(
        [
            "RemoteVerifier",
            "SignatureUnsupported",
            "Verdict",
            "needs_full_node",
            "verify_owner_signature",
        ],
        "verification",
    ),
    **dict.fromkeys(
        [
            "CheckpointVerifier",
            "VerifiedCheckpoint",
            "VerifiedEffects",
            "parse_certificate",
            "verify_effects",
            "verify_events",
            "verify_object",
            "with_contents",
        ],
        "verifier",
    ),
    **dict.fromkeys(
        [
            "EnclaveConfigView",
            "EnclaveView",
            "ObjectView",
            "SealTokenView",
            "StakeRecordView",
            "StakingPoolView",
        ],
        "views",
    ),
}

__all__ = [
    "CLOCK_ID",
    "DEFAULT_GAS_BUDGET",
    "FOLLOW_MODES",
    "PACKAGE_MODULES",
    "SCHEME_NAMES",
    "BalanceReader",
    "BatchObserver",
    "BlsError",
    "BlsPrivateKey",
    "ChainClient",
    "ChainError",
    "ChainReader",
    "ChainSource",
    "ChainUnavailable",
    "CheckpointSource",
    "CheckpointVerifier",
    "CoinSent",
    "Committee",
    "CommitteeMember",
    "CursorStore",
    "Deployment",
    "DeploymentError",
    "EnclaveConfigView",
    "EnclaveView",
    "Endpoint",
    "EpochInfo",
    "EventData",
    "FailedCheck",
    "FaucetError",
    "FileCursorStore",
    "FillCause",
    "FollowMode",
    "FollowObserver",
    "FollowSettings",
    "K3sDaasPackage",
    "KeyError_",
    "MalformedObject",
    "MemoryCursorStore",
    "MintedToken",
    "MoveAbortError",
    "MultiSig",
    "MultiSigCommittee",
    "ObjectChange",
    "ObjectData",
    "ObjectFetcher",
    "ObjectNotFound",
    "ObjectReader",
    "ObjectRef",
    "ObjectView",
    "PcrPin",
    "ProgrammableTransaction",
    "PublishOutputError",
    "PublishRecord",
    "RemoteVerifier",
    "SchemeName",
    "SealTokenView",
    "SignatureError",
    "SignatureUnsupported",
    "SignedTransaction",
    "StakeHints",
    "StakeRecordView",
    "StakingPoolView",
    "SuiKeyPair",
    "TransactionFailed",
    "TransactionOutcomeUnknown",
    "TransactionRejected",
    "TxResult",
    "UnverifiedChainData",
    "Verdict",
    "VerifiedChain",
    "VerifiedCheckpoint",
    "VerifiedEffects",
    "WrongObjectType",
    "check_pcrs",
    "checkpoint_events",
    "decode_signature",
    "follow_checkpoints",
    "needs_full_node",
    "open_chain_source",
    "parse_certificate",
    "parse_publish_output",
    "pcr_problem",
    "pin_pcrs",
    "recover_personal_message_signer",
    "request_gas",
    "request_gas_sync",
    "short_hex",
    "sign",
    "subscribe",
    "transaction_digest",
    "verify_effects",
    "verify_events",
    "verify_object",
    "verify_owner_signature",
    "verify_personal_message",
    "verify_transaction_signature",
    "with_contents",
]

if not TYPE_CHECKING:  # for mypy, the imports above define every name

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
