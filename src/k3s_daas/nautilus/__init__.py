"""The Nautilus master: the control plane that validates Seal tokens (built for a Nitro enclave)."""
