"""The one error type of attestation: every rejection names its cause with a stable reason code.

Callers (the worker, the devnet's `load_nitro_attestation`, the master's HTTP layer) branch on
`reason`, so the codes below are part of the public API.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from k3s_daas.seal.errors import K3sDaasError

Reason = Literal[
    "bad_format",  # not a COSE_Sign1 / not the Nitro payload shape / over a size cap
    "bad_chain",  # a cert not issued by the next, an issuer not a CA, a path length broken
    "untrusted_root",  # cabundle[0] is not the pinned root
    "cert_expired",  # a certificate is outside its validity at "now" or at the document time
    "bad_signature",  # the ES384 COSE signature is wrong, or not raw r||s
    "pcr_mismatch",
    "nonce_mismatch",
    "key_mismatch",
    "stale",  # the document timestamp is older than max_age, or in the future
    "bad_root",  # a root certificate file that is not the pinned one / not loadable
    "bad_ca",  # dev CA files missing, unreadable or already present
]

REASONS: Final[frozenset[str]] = frozenset(get_args(Reason))


class AttestationError(K3sDaasError):
    """An attestation document (or a root/CA it is checked with) was rejected; see `reason`."""

    reason: str = "bad_format"

    def __init__(self, message: str, *, reason: Reason = "bad_format") -> None:
        super().__init__(message, reason=reason)
