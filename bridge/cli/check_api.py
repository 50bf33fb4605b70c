"""`check`'s items for Vapi's API: the host reached (resolved here and TLS verified, or
through the proxy the client would use), the key present (a local look, always listed) and
accepted (a harmless authenticated request), `assistant.id` found (`GET /assistant/{id}`)."""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import ssl
from urllib.parse import urlsplit

from bridge.cli.check_item import Item
from bridge.errors import ApiRequestError, BridgeError, ExitCode
from bridge.inert import inert
from bridge.profile import Profile
from bridge.profile.key_origin import key_fix
from bridge.profile.keys import Secret, api_secret, public_secret
from bridge.profile.listen import host_port
from bridge.redact import scrub_urls
from bridge.vapi.api import VapiApi
from bridge.vapi.connect_errors import describe, plain_text_code
from bridge.vapi.interruptions import INTERRUPTED
from bridge.vapi.net import http_client
from bridge.vapi.plaintext import is_loopback
from bridge.vapi.proxies import UNREADABLE, proxy_for


def _ranges_in_no_proxy() -> list[Item]:
    """A range in NO_PROXY (`127.0.0.0/8`, as curl reads it) is no host: httpx skips it."""
    ranges = {(name, entry.strip()) for name in ("NO_PROXY", "no_proxy")
              for entry in os.environ.get(name, "").split(",") if "/" in entry}
    return [Item(True, f"{name} entry {inert(entry, 60)}", "a range, which is not read (host "
                 "names and addresses only): list the hosts to reach directly", warn=True)
            for name, entry in sorted(ranges)[:3]]


async def network(profile: Profile) -> list[Item]:
    try:  # the client `run` makes: a proxy it cannot use (SOCKS without its packages, a URL
        # that does not parse) is refused there, whatever host
        await http_client(profile.api.base_url).aclose()
    except BridgeError as exc:
        return [Item(False, "proxy settings usable", str(exc), exc.exit_code)]
    url = urlsplit(profile.api.base_url)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    proxied = proxy_for(profile.api.base_url)
    if proxied is not None:  # the proxy resolves the host, and TLS runs through its tunnel
        variable, where = proxied
        notes = _ranges_in_no_proxy()  # a host meant to bypass it may not
        down = await _unreachable(where)
        if down:
            named = "" if where == UNREADABLE else f" {where}"  # no host to name
            return [*notes, Item(False, f"proxy{named} ({variable}) reachable",
                                 f"{down}; check the proxy, or {variable} (NO_PROXY for "
                                 f"hosts to reach directly)", ExitCode.NETWORK)]
        return [*notes, Item(True, f"API host {host} reached through the proxy {where} "
                                   f"({variable})", "not resolved here: the proxy does; TLS, "
                                   "the key and the assistant are checked through it")]
    items: list[Item] = []
    try:
        await asyncio.get_running_loop().getaddrinfo(host, port)
        items.append(Item(True, f"API host {host} resolves"))
    except OSError as exc:
        items.append(Item(False, f"API host {host} resolves", f"{exc.strerror or exc}; check "
                          f"DNS and the network, or api.base_url", ExitCode.NETWORK))
        return items
    if url.scheme == "https":
        try:
            ctx = ssl.create_default_context()
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), 10)
            writer.close()
            items.append(Item(True, f"TLS to {host} verifies"))
        except (OSError, TimeoutError) as exc:
            items.append(_tls_failed(host, port, exc))
    elif not is_loopback(profile.api.base_url):
        items.append(Item(True, f"plain {url.scheme}:// to {host} (api.allow_plaintext)"))
    return items


def _tls_failed(host: str, port: int, exc: OSError | TimeoutError) -> Item:
    """The TLS item of a connection that failed: the handshake (a certificate, a server
    answering without TLS), or before it, the connection itself (refused, timed out: no
    matter of clocks or CAs)."""
    if not isinstance(exc, ssl.SSLError):
        return Item(False, f"API host {host} reachable", f"{describe(exc, host_port(host, port))}; "
                    f"check the network (a firewall?) and api.base_url", ExitCode.NETWORK)
    plain = plain_text_code(exc)
    if plain is not None:
        return Item(False, f"TLS to {host} verifies", f"it answered in plain text, not TLS "
                    f"({plain}): a server without TLS takes http:// in api.base_url",
                    ExitCode.NETWORK)
    return Item(False, f"TLS to {host} verifies", f"{exc}; check the clock, a proxy, or "
                f"ca-certificates", ExitCode.NETWORK)


async def _unreachable(where: str) -> str | None:
    """Why the proxy at `where` (host:port) takes no connection, or None when it does."""
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():  # "a proxy": a URL with no host ("http://")
        return "its URL names no host one can read (http://HOST:PORT)"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"),
                                                                   int(port)), 10)
    except TimeoutError:
        return "no answer within 10 s"
    except socket.gaierror as exc:  # its errno is the resolver's (-2), no strerror's
        return f"cannot resolve {host} ({exc.strerror or exc})"
    except OSError as exc:  # asyncio words a refusal "Connect call failed (addr)"
        return os.strerror(exc.errno) if exc.errno else exc.__class__.__name__
    writer.close()
    return None


def key_present(profile: Profile) -> tuple[Item, str | None]:
    """The key found (environment, key file, credential): local, so always listed; a key
    file other users may read is a warning, with its chmod."""
    try:
        found = api_secret(profile)  # (its file's exposure said here, not logged as well)
    except BridgeError as exc:
        return Item(False, "API key present", str(exc), exc.exit_code), None
    return _present("API key present", found), found.value


def _present(what: str, found: Secret) -> Item:
    """A key found: a warning with the chmod when other users may read its file."""
    if found.exposed is None:
        return Item(True, what)
    return Item(True, what, f"its file {found.exposed} ({found.setting}) is readable by other "
                f"users — run: chmod 600 {shlex.quote(str(found.exposed))}", warn=True)


def public_key_present(profile: Profile) -> list[Item]:
    """With `call.control_auth`, each call asks Vapi to require the PUBLIC key on its
    listenUrl and controlUrl: without it here, the daemon's controlUrl commands fail."""
    if not profile.call.control_auth:
        return []
    what = "public key present (call.control_auth)"
    try:
        found = public_secret(profile)
    except BridgeError as exc:
        return [Item(False, what, str(exc), exc.exit_code)]
    return [_present(what, found)] if found else [Item(
        True, what, f"none: calls ask Vapi to require it, so commands by the controlUrl and "
        f"`listen` fail — set {profile.api.public_key_env}, api.public_key_file or the "
        f"credential vapi-public-key", warn=True)]


async def key_accepted(profile: Profile, key: str) -> list[Item]:
    try:  # the URL's scheme was checked with the profile
        api = VapiApi(profile.api.base_url, key, timeout=min(profile.api.timeout_seconds, 10),
                      allow_plaintext=profile.api.allow_plaintext, key_fix=key_fix(profile))
    except BridgeError as exc:
        return [Item(False, "API key accepted", str(exc), exc.exit_code)]
    items: list[Item] = []
    try:
        await api.check_key()
        items.append(Item(True, "API key accepted"))
        if profile.assistant.id and profile.placeholder() is None:
            items += await _assistant(api, profile)
    except BridgeError as exc:
        items.append(Item(False, "API key accepted", scrub_urls(str(exc)), exc.exit_code))
    finally:
        await api.aclose()
    return items


def placeholder(profile: Profile) -> list[Item]:
    """The example's placeholder assistant.id, refused as `run` refuses it: without asking
    Vapi, so listed whatever the network."""
    problem = profile.placeholder()
    if problem is None:
        return []
    return [Item(False, f"assistant {str(profile.assistant.id)!a} found", problem,
                 ExitCode.PROFILE)]


async def _assistant(api: VapiApi, profile: Profile) -> list[Item]:
    assistant_id = str(profile.assistant.id)
    what = f"assistant {assistant_id!a} found"
    try:
        found = await api.get_assistant(assistant_id)
    except ApiRequestError:
        return [Item(False, what, "Vapi has no assistant with this id for this API key — "
                     "copy the assistant's id from the Vapi dashboard (Assistants), or use "
                     "assistant.inline", ExitCode.PROFILE)]
    except BridgeError as exc:
        return [Item(False, what, scrub_urls(str(exc)), exc.exit_code)]
    name = found.get("name")
    items = [Item(True, what, f"{name[:60]!a}" if isinstance(name, str) and name else "")]
    listed = found.get("clientMessages")
    if isinstance(listed, list) and INTERRUPTED not in listed and \
            "clientMessages" not in (profile.assistant.overrides or {}):
        items.append(Item(True, "assistant", f"its clientMessages (in the Vapi dashboard) "
                          f"leave out {INTERRUPTED}, which the bridge waits for to stop the "
                          f"speaker when the visitor interrupts — add it there, or list "
                          f"clientMessages in assistant.overrides", warn=True))
    return items
