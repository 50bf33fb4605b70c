"""Helpers of the network tests: a short temporary directory (a UNIX socket path's limit),
a simulator serving TLS, the environment a bridge process gets behind a proxy, and running
one."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import trustme

from bridge.sim import SimConfig, SimHandle, run_in_thread
from tests.e2e.conftest import ROOT, bridge_cmd, bridge_env
from tests.network.connect_proxy import ConnectProxy


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vbnet-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def proxy_env(proxy: ConnectProxy | None, ca_pem: Path | None, **extra: str) -> dict[str, str]:
    env = {name: "" for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                                 "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    if proxy is not None:
        env.update(HTTPS_PROXY=proxy.url, https_proxy=proxy.url)
    if ca_pem is not None:
        env["SSL_CERT_FILE"] = str(ca_pem)
    env.update(extra)
    return bridge_env(**env)


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bridge_cmd(*args), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


@contextlib.contextmanager
def sim_with_cert(directory: Path, *names: str, api_key: str = "sim-private-key",
                  **validity: datetime) -> Iterator[tuple[SimHandle, Path]]:
    """A simulator serving https/wss with a certificate for `names` from a test CA, and the
    CA's PEM (for SSL_CERT_FILE); `validity`: trustme's `not_before`/`not_after`."""
    ca = trustme.CA()
    cert = ca.issue_cert(*names, **validity)
    chain, key, ca_pem = directory / "chain.pem", directory / "key.pem", directory / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    config = SimConfig(port=0, api_key=api_key, tls_cert=str(chain), tls_key=str(key))
    with run_in_thread(config) as sim:
        yield sim, ca_pem
