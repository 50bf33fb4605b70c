"""The dependency floors hold on every Python the package claims: on 3.13 no floor is a
release without cp313 wheels (pip would pick it for `make test-floors` and fail to build
it), and `.ci/floors.py` pins each dependency exactly once on 3.11 and on 3.13. Static:
read from pyproject.toml and the floors script, nothing downloaded."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections import Counter

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.e2e.conftest import ROOT

# the first release of each with cp313 wheels (x86_64 and aarch64), as
# `pip download --only-binary=:all: --python-version 3.13 --no-deps NAME==VERSION` finds
FIRST_FOR_313 = {"numpy": "2.1.0", "pyyaml": "6.0.2", "aiohttp": "3.10.5", "scipy": "1.14.1",
                 "websockets": "15.0", "soxr": "1.1.0", "samplerate": "0.2.4"}


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return [Requirement(line) for line in lines if not line.startswith(project["name"])]


def applies(requirement: Requirement, python: str) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(
        {"python_version": python, "python_full_version": f"{python}.0"})


def floor(requirement: Requirement) -> Version:
    return min(Version(s.version) for s in requirement.specifier if s.operator == ">=")


def test_no_floor_on_python_3_13_predates_its_wheels() -> None:
    for requirement in requirements():
        first = FIRST_FOR_313.get(requirement.name.lower())
        if first is not None and applies(requirement, "3.13"):
            assert floor(requirement) >= Version(first), (
                f"{requirement}: on Python 3.13 the floor must be {first} or later")


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_the_floors_pin_each_dependency_once_per_python(python: str) -> None:
    printed = subprocess.run([sys.executable, str(ROOT / ".ci" / "floors.py")],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    pins = [Requirement(line) for line in printed.splitlines()]
    counted = Counter(pin.name.lower() for pin in pins if applies(pin, python))
    wanted = {r.name.lower() for r in requirements() if applies(r, python)}
    assert set(counted) == wanted and set(counted.values()) == {1}, counted
