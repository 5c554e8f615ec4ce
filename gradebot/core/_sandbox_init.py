"""First process inside the bubblewrap sandbox (standard library only; bind-mounted read-only as
/.gradebot/sandbox_init.py). Usage::

    python /.gradebot/sandbox_init.py '<json settings>' -- <kernel argv...>

Sets the resource limits, drops to the unprivileged sandbox uid/gid if one is given (only possible because bwrap
granted CAP_SETUID/CAP_SETGID to this process alone, when the service runs as root), and execs the kernel.
Settings: {"rlimits": {"RLIMIT_AS": n, ...}, "uid": int | null, "gid": int | null}.
"""

import json
import os
import resource
import sys


def main() -> None:
    settings = json.loads(sys.argv[1])
    if sys.argv[2] != "--" or len(sys.argv) < 4:
        sys.exit("usage: sandbox_init.py SETTINGS -- ARGV...")
    argv = sys.argv[3:]
    for name, value in settings.get("rlimits", {}).items():
        value = int(value)
        # CPU: SIGXCPU at the soft limit (reported as a timeout), SIGKILL 5 s later if it is caught
        hard = value + 5 if name == "RLIMIT_CPU" else value
        resource.setrlimit(getattr(resource, name), (value, hard))
    uid, gid = settings.get("uid"), settings.get("gid")
    if gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if uid is not None:
        os.setresuid(uid, uid, uid)  # drops every capability: uid 0 -> non-zero without keepcaps
        if os.getuid() != uid or os.geteuid() != uid:
            sys.exit("sandbox_init: could not drop privileges")
    os.umask(0o077)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
