"""`k3s_daas.chain` names its public surface, every name resolves to its home module, and the
front door stays cheap: importing keys or the deployment does not load the gRPC stack."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import k3s_daas.chain as chain


def test_every_public_name_resolves_to_its_home() -> None:
    assert set(chain.__all__) == set(chain._HOMES)
    for name in chain.__all__:
        value = getattr(chain, name)
        home = importlib.import_module(f"k3s_daas.chain.{chain._HOMES[name]}")
        assert value is getattr(home, name), name
    assert set(chain.__all__) <= set(dir(chain))


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        getattr(chain, "NoSuchThing")  # noqa: B009 - a name mypy must not know


def test_light_names_do_not_import_grpc() -> None:
    code = (
        "import sys\n"
        "from k3s_daas.chain import Deployment, SuiKeyPair, Endpoint\n"
        "heavy = [m for m in ('grpclib', 'pysui.sui') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
