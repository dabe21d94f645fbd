"""`chain.lean_pysui`: the master loads only the pysui leaves the chain layer uses (memory), and
pysui still works in full in the same process for whoever needs it. Each case runs in a fresh
interpreter: what is imported is the point."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Modules of pysui's client stack that the package `__init__` pulls in and the chain never uses.
CLIENT_STACK = ("gql", "graphql", "pysui.sui.sui_pgql.pgql_clients", "pysui.sui.sui_common.client")


def run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_master_imports_no_client_stack() -> None:
    run(
        "import sys\n"
        "import k3s_daas.nautilus.master\n"
        "from k3s_daas.chain import lean_pysui\n"
        "from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2\n"
        "assert lean_pysui.is_bare()\n"
        f"loaded = [m for m in {CLIENT_STACK!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert v2.GetCheckpointRequest(sequence_number=3).sequence_number == 3\n"
    )


@pytest.mark.parametrize(
    "use",
    [
        "from pysui import PysuiConfiguration, SuiRpcResult\nassert SuiRpcResult(True, 'x').is_ok()",
        "import pysui\nassert pysui.__version__ and pysui.GrpcProtocolClient",
        "from pysui import *\nassert PysuiConfiguration and SuiCommand",
    ],
)
def test_full_pysui_still_works_after_the_chain_layer(use: str) -> None:
    run(
        "import sys\n"
        "import k3s_daas.chain.client\n"
        "from k3s_daas.chain import lean_pysui\n"
        "assert lean_pysui.is_bare()\n"
        f"{use}\n"
        "assert not lean_pysui.is_bare() and 'pysui.sui.sui_pgql.pgql_clients' in sys.modules\n"
        "import pysui\n"
        "try:\n"
        "    pysui.NoSuchName\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchName' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('a missing name must stay an AttributeError')\n"
    )


def test_pysui_imported_first_is_left_alone() -> None:
    run(
        "import pysui\n"
        "from k3s_daas.chain import lean_pysui\n"
        "import k3s_daas.chain.client\n"
        "assert not lean_pysui.is_bare() and not lean_pysui.install()\n"
        "assert pysui.PysuiConfiguration\n"
    )
