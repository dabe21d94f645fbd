"""`k3s-daas nautilus wrap-key`: a new data key for a Nitro master, wrapped by AWS KMS.

Run once per deployment, by an operator allowed `kms:GenerateDataKeyWithoutPlaintext` on the key:
the plaintext never leaves KMS, and the file written is a ciphertext only an enclave whose
attestation satisfies the key policy can have decrypted (nautilus/kms.py, docs/attestation.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from k3s_daas.cli._common import console, fail, handle_errors
from k3s_daas.cli.options import HomeOpt, JsonOpt, option, output_option
from k3s_daas.nautilus.settings import NautilusSettings

KMS_KEY_ID = option(
    None,
    "--kms-key-id",
    env="NAUTILUS_KMS_KEY_ID",
    show_default="none: required",
    help="The KMS key (id, ARN or alias/NAME) that wraps the data key; its policy allows "
    "Decrypt only to the enclave's PCRs.",
)
KMS_REGION = option(
    None,
    "--kms-region",
    env="NAUTILUS_KMS_REGION",
    show_default="AWS_REGION",
    help="The KMS key's AWS region.",
)
KMS_ENDPOINT_URL = option(
    None,
    "--kms-endpoint-url",
    env="NAUTILUS_KMS_ENDPOINT_URL",
    show_default="the region's",
    help="KMS endpoint URL (a VPC endpoint, or a local KMS for tests).",
)


@handle_errors
def wrap_key_command(
    kms_key_id: str | None = KMS_KEY_ID,
    kms_region: str | None = KMS_REGION,
    kms_endpoint_url: str | None = KMS_ENDPOINT_URL,
    output: Path | None = output_option(
        "NAUTILUS_WRAP_KEY",
        "Where to write the wrapped key (a KMS ciphertext, not a secret); an existing file is "
        "never replaced.",
        default="<home>/nautilus/data.key.kms",
    ),
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Wrap a new data key with AWS KMS for a Nitro master (kms_wrapped_key_file)."""
    del home  # read through K3S_DAAS_HOME by the settings
    if not kms_key_id:
        fail("--kms-key-id is required: the KMS key whose policy releases the data key")
    path = output or NautilusSettings().kms_wrapped_key_path
    if path.exists():
        fail(
            f"{path} exists: a store sealed with its key would become unreadable; "
            "pass another --output"
        )
    from k3s_daas.nautilus.kms import kms_client, wrap_new_data_key

    blob = wrap_new_data_key(kms_client(kms_region, kms_endpoint_url), kms_key_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(blob)
    if as_json:
        info = {"path": str(path), "kms_key_id": kms_key_id, "bytes": len(blob)}
        console.print(json.dumps(info), highlight=False, markup=False, soft_wrap=True)
        return
    console.print(f"wrote {path} ({len(blob)} bytes, wrapped by {kms_key_id})", highlight=False)
    console.print(
        "give it to the master: K3S_DAAS_NAUTILUS_KMS_WRAPPED_KEY_FILE=" + str(path),
        highlight=False,
    )
