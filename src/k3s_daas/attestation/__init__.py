"""Enclave attestation, pure crypto (no network, no implicit file I/O): the AWS Nitro document
format, the one verifier, the dev CA that stands in for AWS's PKI, and simulated PCRs."""

from k3s_daas.attestation.devca import (
    DevCA,
    EnclaveLeaf,
    create_dev_ca,
    issue_enclave_leaf,
    load_or_create_dev_ca,
)
from k3s_daas.attestation.document import (
    AttestationDocument,
    CoseSign1,
    encode_cose_sign1,
    encode_document,
    parse_cose,
    parse_document,
    sign_document,
)
from k3s_daas.attestation.errors import REASONS, AttestationError
from k3s_daas.attestation.measurements import (
    MeasurementsError,
    parse_measurements,
    parse_pcr_hex,
)
from k3s_daas.attestation.pcrs import simulated_pcrs
from k3s_daas.attestation.roots import (
    AWS_NITRO_ROOT_SHA256,
    der_sha256,
    load_aws_root,
    load_root,
    root_from_pem,
)
from k3s_daas.attestation.signing import (
    certificate_binding,
    tls_key_binding,
    verify_enclave_signature,
)
from k3s_daas.attestation.verify import DEFAULT_MAX_AGE, verify_document

__all__ = [
    "AWS_NITRO_ROOT_SHA256",
    "DEFAULT_MAX_AGE",
    "REASONS",
    "AttestationDocument",
    "AttestationError",
    "CoseSign1",
    "DevCA",
    "EnclaveLeaf",
    "MeasurementsError",
    "certificate_binding",
    "create_dev_ca",
    "der_sha256",
    "encode_cose_sign1",
    "encode_document",
    "issue_enclave_leaf",
    "load_aws_root",
    "load_or_create_dev_ca",
    "load_root",
    "parse_cose",
    "parse_document",
    "parse_measurements",
    "parse_pcr_hex",
    "root_from_pem",
    "sign_document",
    "simulated_pcrs",
    "tls_key_binding",
    "verify_document",
    "verify_enclave_signature",
]
