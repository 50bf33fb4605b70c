"""Helpers of the network tests: a short temporary directory (a UNIX socket path's limit),
the environment a bridge process gets behind a proxy, and running one."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

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
