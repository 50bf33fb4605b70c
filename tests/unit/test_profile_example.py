"""The example profile (`config/frontdesk.yaml`, what `vapi-bridge init` writes) shows every
key a profile may hold, with the default and help declared in bridge/profile/sections.py."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import yaml

from bridge.profile import parse_profile
from bridge.profile.example import render
from bridge.profile.fields import has_example
from bridge.profile.model import SECTIONS, SPEC

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "frontdesk.yaml"


def test_the_example_is_rendered_from_the_declarations() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == render(), (
        "config/frontdesk.yaml differs from the key declarations; regenerate it: "
        ".venv/bin/python -m bridge.profile.example > config/frontdesk.yaml")


def test_every_key_is_shown_with_its_help() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for section, cls in SECTIONS.items():
        body = text.split(f"\n{section}:", 1)[1].split("\n\n", 1)[0]
        for f in fields(cls):
            assert f.metadata["help"], f"{section}.{f.name} is declared without help"
            found = re.search(rf"(?m)^  (?:# )?{f.name}:.*?# (.*)\n((?:  #  +# .*\n)*)",
                              body + "\n")
            assert found, f"{section}.{f.name} is missing from {EXAMPLE.name}"
            shown = " ".join([found[1], *re.findall(r"#  +# (.*)", found[2])])
            assert shown == " ".join(f.metadata["help"].split()), f"{section}.{f.name}"


def test_shown_values_are_the_defaults() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    written = yaml.safe_load(text)
    profile = parse_profile(text, origin=EXAMPLE.name)
    assert set(written) == set(SPEC)
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            meta = f.metadata
            if meta["commented"]:
                assert f.name not in (written[section] or {})
            elif not (has_example(meta) or meta["block"]):
                assert f.name in written[section], f"{section}.{f.name}"
                assert getattr(getattr(profile, section), f.name) == meta["spec"].default, \
                    f"{section}.{f.name}"


def test_init_names_the_call_after_the_profile() -> None:
    """`vapi-bridge init NAME` writes the example with call.name NAME, whatever YAML would
    make of the bare word, the rest of the file as it is."""
    from bridge.cli.scaffold import profile_text

    example = EXAMPLE.read_text(encoding="utf-8")
    for name in ("lobby", "123", "null", "on", "x" * 40):
        text = profile_text(name)
        assert parse_profile(text, origin="init.yaml").call.name == name[:30]
        assert f"vapi-bridge run --profile {name}\n" in text  # the header says run this one
        before, after = (t.split("\n  name: ")[0].replace(f"--profile {n}\n", "")
                         for t, n in ((example, "frontdesk"), (text, name)))
        assert before == after
        rest = (t.split("\n  # max_duration_seconds:")[1] for t in (example, text))
        assert len(set(rest)) == 1, name  # only the name's own lines differ
