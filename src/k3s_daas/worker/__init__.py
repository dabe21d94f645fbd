"""The staker-host worker agent: stake, mint, attest the master, register, heartbeat, join K3s."""
