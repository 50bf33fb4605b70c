"""Install the seccomp filters a spec describes, then exec a command: the systemd unit's
sandbox, emulated with libseccomp (tests/service/test_unit_files.py).

    python seccomp_launcher.py SPEC_JSON CMD...

Kept to the standard library: it runs before anything else is imported. SPEC_JSON holds
`libseccomp` (the library's path), `allow` (syscall names, or null for no allow list),
`errno` (what a refused call returns), `socket_families`, `clone3_enosys`,
`proc_subset_pid` (a private /proc with subset=pid; needs root) and `mdwe`
(MemoryDenyWriteExecute=yes as systemd 252 builds it).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys
from typing import Any

ALLOW = 0x7FFF0000
EQ, MASKED_EQ = 4, 7


class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


def errno_action(e: int) -> int:
    return 0x00050000 | (e & 0xFFFF)


def private_proc(libc: ctypes.CDLL) -> None:
    """A private mount namespace with /proc mounted hidepid=invisible,subset=pid."""
    clone_newns, ms_rec, ms_private = 0x00020000, 0x4000, 0x40000
    if libc.unshare(clone_newns) != 0:
        sys.exit("unshare(CLONE_NEWNS): " + os.strerror(ctypes.get_errno()))
    if libc.mount(b"none", b"/", None, ms_rec | ms_private, None) != 0:
        sys.exit("mount --make-rprivate /: " + os.strerror(ctypes.get_errno()))
    if libc.mount(b"proc", b"/proc", b"proc", 0x2 | 0x4 | 0x8,  # nosuid nodev noexec
                  b"hidepid=invisible,subset=pid") != 0:
        sys.exit("mount proc subset=pid: " + os.strerror(ctypes.get_errno()))


class Seccomp:
    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path, use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(Cmp)]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def init(self, default_action: int) -> Any:
        return self.lib.seccomp_init(default_action)

    def rule(self, ctx: Any, action: int, name: str, *cmps: Cmp) -> None:
        n = self.lib.seccomp_syscall_resolve_name(name.encode())
        if n < 0:
            return
        arr = (Cmp * max(1, len(cmps)))(*cmps)
        r = self.lib.seccomp_rule_add_array(ctx, action, n, len(cmps), arr)
        if r < 0:
            sys.exit(f"seccomp_rule_add {name}: {os.strerror(-r)}")

    def load(self, ctx: Any) -> None:
        r = self.lib.seccomp_load(ctx)
        if r < 0:
            sys.exit("seccomp_load: " + os.strerror(-r))


def allow_list(sc: Seccomp, spec: dict[str, Any]) -> None:
    ctx = sc.init(errno_action(spec["errno"]))
    families = spec.get("socket_families")
    for name in spec["allow"]:
        if name == "socket" and families is not None:
            for fam in families:
                sc.rule(ctx, ALLOW, "socket", Cmp(0, EQ, fam, 0))
        elif name == "clone3" and spec.get("clone3_enosys"):
            sc.rule(ctx, errno_action(errno.ENOSYS), "clone3")
        else:
            sc.rule(ctx, ALLOW, name)
    sc.load(ctx)


def deny_write_execute(sc: Seccomp) -> None:
    """MemoryDenyWriteExecute=yes, as systemd 252 builds it."""
    ctx = sc.init(ALLOW)
    prot_write, prot_exec, shm_exec = 0x2, 0x4, 0o100000
    eperm = errno_action(errno.EPERM)
    sc.rule(ctx, eperm, "mmap",
            Cmp(2, MASKED_EQ, prot_write | prot_exec, prot_write | prot_exec))
    for name in ("mprotect", "pkey_mprotect"):
        sc.rule(ctx, eperm, name, Cmp(2, MASKED_EQ, prot_exec, prot_exec))
    sc.rule(ctx, eperm, "shmat", Cmp(2, MASKED_EQ, shm_exec, shm_exec))
    sc.load(ctx)


def main() -> None:
    spec = json.loads(sys.argv[1])
    cmd = sys.argv[2:]
    if spec.get("proc_subset_pid"):
        private_proc(ctypes.CDLL(None, use_errno=True))
    sc = Seccomp(spec["libseccomp"])
    if spec.get("allow") is not None:
        allow_list(sc, spec)
    if spec.get("mdwe"):
        deny_write_execute(sc)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
