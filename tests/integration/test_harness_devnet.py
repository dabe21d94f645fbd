"""The test harness's devnet process: a port picked free and then taken by another socket (an
ephemeral port of some connection) costs a restart on new ports, not a failed test."""

from __future__ import annotations

import socket
from pathlib import Path

from harness.devnet import DevnetProcess
from harness.processes import free_port, port_open


def test_a_devnet_whose_port_was_taken_starts_on_other_ports(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        node = DevnetProcess(tmp_path / "devnet", free_port(), busy)
        node.start()
        try:
            assert node.faucet_port != busy and port_open(node.grpc_port)
            assert "(port_in_use)" in node.log_path.read_text()  # the first try said why
            assert str(node.faucet_port) in node.faucet_url
        finally:
            node.stop()
