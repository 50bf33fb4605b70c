"""Print pip constraints pinning every dependency of pyproject.toml to its declared floor.

`make test-floors` installs the package with these constraints in a second venv and runs
the tests there, so a floor that is not really enough fails CI. Every requirement must
have a `>=` floor; environment markers are kept (pip evaluates them), so a dependency
with one floor per Python version (`numpy>=1.26; python_version < "3.13"`, `numpy>=2.1.0;
python_version >= "3.13"`) is pinned once per marker. The package's own extras
(`vapi-bridge[...]`) are skipped: their members are listed on their own.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")


def floors(project: dict[str, Any]) -> list[str]:
    own = project["name"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    pins: dict[tuple[str, str], str] = {}  # by name and marker: one pin per Python
    for line in lines:
        match = REQUIREMENT.match(line)
        if match is None:
            raise SystemExit(f"floors: cannot read the requirement {line!r}")
        name, _extras, spec, marker = match.groups()
        if name == own:
            continue
        floor = re.search(r">=\s*([^,\s]+)", spec)
        if floor is None:
            raise SystemExit(f"floors: {line!r} has no >= floor; declare one")
        pin = f"{name}=={floor.group(1)}{' ' + marker if marker else ''}"
        pins[name.lower(), marker or ""] = pin
    return sorted(pins.values(), key=str.lower)


def main() -> int:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    print("\n".join(floors(project)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
