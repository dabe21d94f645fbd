"""`--json` on the devnet's commands against a real devnet: stable keys, integers of MIST, and a
result that matches what the text form says."""

from __future__ import annotations

import json
import os
import subprocess

from harness.devnet import DevnetProcess
from harness.processes import CLI
from k3s_daas.chain import SuiKeyPair


def cli(devnet: DevnetProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K3S_DAAS_")}
    return subprocess.run(
        [CLI, "devnet", *args, "--data", str(devnet.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "K3S_DAAS_HOME": str(devnet.data_dir.parent / "home")},
    )


def test_faucet_epoch_and_info_as_json(devnet: DevnetProcess) -> None:
    address = SuiKeyPair.generate().address
    sent = cli(devnet, "faucet", address, "--amount", "1234", "--json")
    assert sent.returncode == 0, sent.stderr
    body = json.loads(sent.stdout)
    assert body["recipient"] == address
    assert [coin["amount"] for coin in body["coins"]] == [1234]
    assert set(body["coins"][0]) == {"object_id", "amount", "tx_digest"}

    info = json.loads(cli(devnet, "info", "--json").stdout)
    advanced = cli(devnet, "epoch", "--json")
    assert advanced.returncode == 0, advanced.stderr
    epoch = json.loads(advanced.stdout)
    assert set(epoch) == {"epoch", "checkpoint"}
    assert epoch["epoch"] == info["epoch"] + 1
    assert epoch["checkpoint"] > info["checkpoint"]
