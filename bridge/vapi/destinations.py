"""Where `transfer` may send a call, read as Vapi's schema takes it: a
`TransferDestinationNumber` (`number`, 3-40 characters, E.164 unless
`numberE164CheckEnabled` is false — this client never sets it) or a
`TransferDestinationSip` (`sipUri`).

- A number is E.164: `+`, a country code that does not start with 0, at most 15 digits
  (`+15551234567`). Spaces, dashes, dots and parentheses written for reading
  (`+1 (555) 123-4567`) are dropped before it is checked and sent.
- A SIP URI starts with `sip:` or `sips:` (any case) and names a host, with or without a
  user (`sip:desk@pbx.example.com`); it holds no whitespace and is sent as given.

- An extension, dialled once the number answers (Vapi's `extension`), is 1-10 of the
  digits 0-9, `*` and `#`, with the same reading marks dropped (`204`, `12-34`). A SIP URI
  takes none: the URI's user part names the extension (`sip:204@pbx.example.com`).

Anything else is refused before it is sent (Vapi would refuse it mid-call, or the
assistant would say it transfers and nothing would happen).
"""

from __future__ import annotations

import re

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
READING_MARKS = re.compile(r"[\s().\-]")
SIP_URI = re.compile(r"sips?:([^\s@]+@)?[^\s@:;]+\S*", re.IGNORECASE)
EXTENSION = re.compile(r"[0-9*#]{1,10}")
FORMS = ("a phone number in E.164 form (e.g. +15551234567) or a sip: URI "
         "(e.g. sip:desk@pbx.example.com)")


def transfer_destination(text: str, extension: str | None = None) -> dict[str, str]:
    """The destination object for `text` (and `extension`, for a number); ValueError (one
    line with the fix) if it is neither form or the extension is not one."""
    dest = _destination(text)
    if extension is None:
        return dest
    if dest["type"] == "sip":
        raise ValueError("a sip: URI takes no extension — name it in the URI "
                         "(sip:204@pbx.example.com)")
    digits = READING_MARKS.sub("", extension)
    if not EXTENSION.fullmatch(digits):
        raise ValueError(f"extension {extension[:20]!a} is not 1-10 of the digits 0-9, "
                         f"* and # (e.g. 204)")
    return {**dest, "extension": digits}


def _destination(text: str) -> dict[str, str]:
    given = text.strip()
    shown = ascii(given[:60])
    if given[:5].lower().startswith(("sip:", "sips:")):
        if not SIP_URI.fullmatch(given):
            raise ValueError(f"{shown} is not a usable SIP URI — write sip:USER@HOST or "
                             f"sip:HOST, with no spaces")
        return {"type": "sip", "sipUri": given}
    number = READING_MARKS.sub("", given)
    if E164.fullmatch(number):
        return {"type": "number", "number": number}
    if number.lstrip("+").isdigit():
        raise ValueError(f"{shown} is not an E.164 number — write it with + and the country "
                         f"code (no leading 0), at most 15 digits, e.g. +15551234567")
    raise ValueError(f"{shown} is not a phone number or SIP URI — give {FORMS}")
