"""The sandbox: the ONLY way student code runs.

Design
------
nbgrader (which holds the hidden tests and the gradebook) runs outside the sandbox. Only the Jupyter kernel runs
inside: :class:`SandboxKernelManager` (given to nbgrader's Execute preprocessor, see ``gradebot.core.nbexec``)
replaces the kernel command by ::

    bwrap <namespaces, mounts> python /.gradebot/sandbox_init.py <limits, uid> -- python -m ipykernel_launcher -f <conn>

and talks to the kernel over ZeroMQ *ipc* sockets (unix sockets in the scratch dir), because the kernel has its
own empty network namespace and cannot reach the host's loopback.

Inside the sandbox the kernel sees: /usr, /etc and the lib/bin links read-only; the Python installation (venv =
``sys.prefix`` and the base interpreter) read-only; the course's data dirs read-only (declared by the course,
``gradebot.core.kernel_needs``); a fresh /proc and minimal /dev; the
job's scratch dir (its own path, the only writable place; TMPDIR points into it, / and /tmp are read-only). It does not
see the course source, the gradebooks, the store, other jobs or anything else under /work or /home. No network
(--unshare-net), own pid/ipc/uts namespaces, a new session (no terminal injection), and it dies with its parent.
When the service runs as root, the first process drops to an unprivileged uid (``sandbox_uid_base + slot``) so
RLIMIT_NPROC is enforced (the kernel ignores it for root). rlimits: CPU seconds, address space, processes, file
size, no core dumps. Wall time: nbgrader's per-cell timeout plus a whole-job limit enforced by the caller.

Fail closed: if bwrap is missing or cannot start a sandbox, :func:`check_sandbox` raises SandboxUnavailable and no
student code runs. Only ``sandbox="none"`` in the config (instructor opt-out) runs kernels unsandboxed, with a
loud warning in the log.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradebot.core.errors import SandboxUnavailable

if TYPE_CHECKING:
    from gradebot.config import Config
    from gradebot.core.kernel_needs import KernelNeeds

log = logging.getLogger("gradebot.sandbox")

BWRAP = os.environ.get("GRADEBOT_BWRAP", "/usr/bin/bwrap")
INIT_SCRIPT = Path(__file__).with_name("_sandbox_init.py")
INIT_IN_SANDBOX = "/.gradebot/sandbox_init.py"
SPEC_ENV = "GRADEBOT_SANDBOX_SPEC"  # path of the JSON SandboxSpec the kernel manager reads
SANDBOX_MODE_ENV = "GRADEBOT_SANDBOX_MODE"  # the job's sandbox mode, for the nbgrader process (default bwrap)
SANDBOX_MODES = ("bwrap", "none")


def sandbox_mode() -> str:
    """The job's sandbox mode from ``$GRADEBOT_SANDBOX_MODE`` (default "bwrap"); anything else refuses to run student
    code (the one check, for the kernel path and the trusted runner alike)."""
    mode = os.environ.get(SANDBOX_MODE_ENV, "bwrap")
    if mode not in SANDBOX_MODES:
        raise SandboxUnavailable(
            f"{SANDBOX_MODE_ENV}={mode!r}: refusing to run student code (use one of {', '.join(SANDBOX_MODES)})"
        )
    return mode


@dataclass
class SandboxSpec:
    """Everything needed to start one sandboxed process. ``mode``: "bwrap" or "none" (opt-out)."""

    mode: str
    scratch: str  # the only writable dir (bound at the same path inside)
    uid: int | None = None  # drop to this uid/gid inside (only when running as root)
    cpu_seconds: int = 900
    memory_bytes: int = 4 * 1024**3
    max_processes: int = 64
    max_file_bytes: int = 256 * 1024**2
    ro_binds: list[str] = field(default_factory=list)  # extra read-only dirs (the Python installation, data)
    env: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)  # the course's read-only data dirs: variable -> host dir
    python: str = sys.executable

    @property
    def workdir(self) -> str:
        return os.path.join(self.scratch, "work")

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> "SandboxSpec":
        return cls(**json.loads(Path(path).read_text()))


def python_roots() -> list[str]:
    """Directories the interpreter needs: the venv (sys.prefix) and the base installation it links to."""
    roots = []
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        rp = os.path.realpath(p)
        if rp not in ("/", "/usr", "/usr/local") and rp not in roots:
            roots.append(rp)
    exe_dir = os.path.dirname(os.path.realpath(sys.executable))
    if not any(exe_dir.startswith(r + "/") or exe_dir == r for r in roots + ["/usr"]):
        roots.append(exe_dir)
    # the venv's python may be a symlink into the base install: bind the link targets' prefix as well
    return sorted(roots)


def make_spec(config: Config, scratch: Path, slot: int, needs: KernelNeeds | None = None) -> SandboxSpec:
    """The spec of one job from the gradebot :class:`~gradebot.config.Config`, a worker slot number and what the
    course's kernel needs (:class:`~gradebot.core.kernel_needs.KernelNeeds`: its environment and read-only data
    dirs; None = nothing). The core adds no course facts of its own."""
    uid = config.sandbox_uid_base + slot if os.geteuid() == 0 else None
    env = {
        "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": f"{scratch}/home",
        "TMPDIR": f"{scratch}/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{scratch}/mpl",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": str(config.kernel_threads),
        "OPENBLAS_NUM_THREADS": str(config.kernel_threads),
        "MKL_NUM_THREADS": str(config.kernel_threads),
    }
    ro = python_roots()
    data = {}
    if needs is not None:
        env.update(needs.env)
        data = dict(needs.data)
        env.update(data)  # the kernel reads each dir at its host path (bound read-only there)
        ro += [d for d in data.values() if d not in ro]
    return SandboxSpec(
        mode=config.sandbox,
        scratch=str(scratch),
        uid=uid,
        cpu_seconds=config.cpu_seconds,
        memory_bytes=config.memory_bytes,
        max_processes=config.max_processes,
        max_file_bytes=config.max_file_bytes,
        ro_binds=ro,
        env=env,
        data=data,
    )


def prepare_scratch(spec: SandboxSpec) -> None:
    """Create the scratch tree (work, home, tmp, mpl) owned by the sandbox uid, mode 0700."""
    root = Path(spec.scratch)
    for sub in ("", "work", "home", "tmp", "mpl"):
        d = root / sub
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        if spec.uid is not None:
            os.chown(d, spec.uid, spec.uid)


def give_to_sandbox(spec: SandboxSpec, path: str | Path) -> None:
    """Make a file/dir created by the service (e.g. the connection file) owned by the sandbox uid."""
    if spec.uid is not None:
        for p in [Path(path), *(Path(path).rglob("*") if Path(path).is_dir() else [])]:
            os.lchown(p, spec.uid, spec.uid)


def _bwrap_system() -> list[str]:
    """bwrap's start: new namespaces (no network), a new session, and /usr with the /bin, /lib... links read-only."""
    a = [
        BWRAP,
        "--die-with-parent",
        "--new-session",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "gradebot-sandbox",
    ]
    if os.geteuid() != 0:
        a += ["--unshare-user"]
    a += ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            a += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            a += ["--ro-bind", d, d]
    return a


def _init_settings(spec: SandboxSpec) -> dict:
    """What sandbox_init.py applies before it execs: rlimits and the unprivileged uid/gid."""
    return {
        "rlimits": {
            "RLIMIT_CPU": spec.cpu_seconds,
            "RLIMIT_AS": spec.memory_bytes,
            "RLIMIT_NPROC": spec.max_processes,
            "RLIMIT_FSIZE": spec.max_file_bytes,
            "RLIMIT_CORE": 0,
        },
        "uid": spec.uid,
        "gid": spec.uid,
    }


def bwrap_argv(spec: SandboxSpec, argv: list[str]) -> list[str]:
    """The full command that runs ``argv`` inside the sandbox described by ``spec``."""
    if spec.mode != "bwrap":
        raise SandboxUnavailable(f"bwrap_argv called with sandbox mode {spec.mode!r}")
    a = _bwrap_system()
    a += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev"]
    ro = [d for d in spec.ro_binds if os.path.exists(d)]
    # bwrap would create the parents of mount points with mode 0700 (unusable for the sandbox uid): make them
    # explicitly, 0755, unless they lie inside another mount
    targets = ["/usr", "/etc", *ro, spec.scratch, os.path.dirname(INIT_IN_SANDBOX)]
    parents: set[str] = set()
    for t in targets[2:]:
        p = os.path.dirname(t)
        while p not in ("/", ""):
            parents.add(p)
            p = os.path.dirname(p)
    for p in sorted(parents, key=lambda x: (x.count("/"), x)):
        if not any(p == t or p.startswith(t.rstrip("/") + "/") for t in targets):
            a += ["--perms", "0755", "--dir", p]
    for d in ro:
        a += ["--ro-bind", d, d]
    a += [
        "--bind",
        spec.scratch,
        spec.scratch,
        "--ro-bind",
        str(INIT_SCRIPT),
        INIT_IN_SANDBOX,
        "--remount-ro",
        "/",
        "--chdir",
        spec.workdir,
        "--clearenv",
    ]
    for k, v in spec.env.items():
        a += ["--setenv", k, v]
    if spec.uid is not None:
        a += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    settings = _init_settings(spec)
    a += ["--", spec.python, "-I", "-S", INIT_IN_SANDBOX, json.dumps(settings), "--", *argv]
    return a


# Site-packages entries the student's process may import at grading: NumPy and what the given code uses (tqdm;
# matplotlib for plots, with its dependencies). Nothing else of the grader's environment is visible in there.
STUDENT_SITE = (
    "numpy",
    "numpy.libs",
    "tqdm",
    "matplotlib",
    "mpl_toolkits",
    "contourpy",
    "cycler",
    "fontTools",
    "kiwisolver",
    "packaging",
    "PIL",
    "pillow.libs",
    "pyparsing",
    "dateutil",
    "six.py",
)
# Read-only system files the interpreter and NumPy need; the rest of /etc (configuration, credentials) is absent.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/fonts",
)
IN_SANDBOX_PY = "/py"  # the base interpreter
IN_SANDBOX_SITE = "/site"  # STUDENT_SITE entries
IN_SANDBOX_HOME = "/sandbox"  # the scratch dir (the only writable place)
IN_SANDBOX_DATA = "/data"  # read-only data dirs, each as /data/<name>


def site_packages_dir() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def python_sandbox_argv(
    spec: SandboxSpec,
    files: dict[str, str],
    argv: list[str],
    data: dict[str, str] | None = None,
    site: tuple[str, ...] = STUDENT_SITE,
) -> list[str]:
    """The command that runs the base interpreter's ``argv`` (paths inside the sandbox) with nothing of the host
    but /usr (no Python packages of the system), a minimal /etc, the base Python at /py, the allowed
    site-packages entries at /site, ``files`` ({path inside: host file}) read-only, ``data`` ({name: host dir})
    read-only at /data/<name>, and the scratch dir at /sandbox. Same namespaces, limits and uid as
    :func:`bwrap_argv`; the environment is ``spec.env`` with paths rewritten for the inside."""
    if spec.mode != "bwrap":
        raise SandboxUnavailable(f"python_sandbox_argv called with sandbox mode {spec.mode!r}")
    base = os.path.realpath(sys.base_prefix)
    a = _bwrap_system()
    for hidden in ("/usr/lib/python3/dist-packages", "/usr/local/lib"):
        if os.path.isdir(hidden):
            a += ["--tmpfs", hidden]
    for f in ETC_FILES:
        a += ["--ro-bind-try", f, f]
    a += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--ro-bind",
        base,
        IN_SANDBOX_PY,
        "--tmpfs",
        f"{IN_SANDBOX_PY}/lib/python3.{sys.version_info[1]}/site-packages",
    ]
    packages = site_packages_dir()
    # mount points' parents made explicitly 0755 (bwrap would make them 0700: unusable for the sandbox uid)
    parents = sorted({os.path.dirname(dst) for dst in files} | {IN_SANDBOX_DATA, IN_SANDBOX_SITE} - {"/"})
    for d in parents:
        a += ["--perms", "0755", "--dir", d]
    for entry in site:
        src = os.path.join(packages, entry)
        if os.path.exists(src):
            a += ["--ro-bind", src, f"{IN_SANDBOX_SITE}/{entry}"]
    for name, src in (data or {}).items():
        if os.path.isdir(src):
            a += ["--ro-bind", src, f"{IN_SANDBOX_DATA}/{name}"]
    for dst, src in files.items():
        a += ["--ro-bind", src, dst]
    a += [
        "--bind",
        spec.scratch,
        IN_SANDBOX_HOME,
        "--ro-bind",
        str(INIT_SCRIPT),
        INIT_IN_SANDBOX,
        "--remount-ro",
        "/",
        "--chdir",
        f"{IN_SANDBOX_HOME}/work",
        "--clearenv",
    ]
    env = {k: v.replace(spec.scratch, IN_SANDBOX_HOME) for k, v in spec.env.items()}
    env.update({"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": f"{IN_SANDBOX_PY}/lib", "PYTHONDONTWRITEBYTECODE": "1"})
    for k, v in env.items():
        a += ["--setenv", k, v]
    if spec.uid is not None:
        a += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    settings = _init_settings(spec)
    py = f"{IN_SANDBOX_PY}/bin/python3.{sys.version_info[1]}"
    a += ["--", py, "-I", "-S", INIT_IN_SANDBOX, json.dumps(settings), "--", py, "-I", "-S", *argv]
    return a


def run_in_sandbox(
    spec: SandboxSpec, argv: list[str], timeout: float = 60, input: bytes | None = None
) -> subprocess.CompletedProcess:
    """Run a command in the sandbox and wait (used by the self-test and by tests of the isolation)."""
    prepare_scratch(spec)
    return subprocess.run(
        bwrap_argv(spec, argv), capture_output=True, timeout=timeout, input=input, start_new_session=True
    )


_checked: dict[str, bool] = {}
_check_lock = threading.Lock()


def check_sandbox(config: Config, scratch_parent: str | None = None) -> None:
    """Fail closed: raise SandboxUnavailable unless a sandboxed python starts (result cached per process).
    With ``sandbox="none"`` log a loud warning instead."""
    if config.sandbox == "none":
        log.warning(
            "!!! SANDBOX DISABLED (sandbox='none'): student code runs with the grader's privileges, "
            "network and files. Use only for trusted notebooks. !!!"
        )
        return
    if config.sandbox != "bwrap":
        raise SandboxUnavailable(f"unknown sandbox mode {config.sandbox!r}")
    with _check_lock:
        if _checked.get(BWRAP):
            return
        if not os.access(BWRAP, os.X_OK):
            raise SandboxUnavailable(
                f"bubblewrap not found at {BWRAP}: install it (apt-get install bubblewrap) "
                "or set sandbox='none' explicitly to opt out"
            )
        import tempfile

        d = tempfile.mkdtemp(prefix="gbchk-", dir=scratch_parent)
        try:
            spec = make_spec(config, Path(d) / "s", slot=0)
            proc = run_in_sandbox(spec, [spec.python, "-c", "print('sandbox-ok')"], timeout=60)
            if proc.returncode != 0 or b"sandbox-ok" not in proc.stdout:
                stderr = proc.stderr.decode(errors="replace")[-800:]
                raise SandboxUnavailable(f"the bubblewrap sandbox does not start (rc={proc.returncode}): {stderr}")
        except subprocess.TimeoutExpired as exc:
            raise SandboxUnavailable("the bubblewrap sandbox self-test timed out") from exc
        finally:
            shutil.rmtree(d, ignore_errors=True)
        _checked[BWRAP] = True


# ---------------------------------------------------------------------------------------------- kernel manager
def _make_kernel_manager_class():
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class SandboxKernelManager(AsyncKernelManager):
        """A KernelManager whose kernel always runs inside the sandbox described by ``$GRADEBOT_SANDBOX_SPEC``.

        The notebook's kernelspec is ignored (a student cannot pick another kernel): the kernel is always
        ``python -m ipykernel_launcher`` of the grading interpreter. Transport is ipc with the sockets and the
        connection file in the scratch dir; interrupts are sent as messages (signals cannot cross the sandbox's
        new session)."""

        def __init__(self, *args: Any, **kwargs: Any):
            path = os.environ.get(SPEC_ENV)
            if not path:
                raise SandboxUnavailable(f"{SPEC_ENV} is not set: refusing to start an unsandboxed kernel")
            self._gb_spec = SandboxSpec.load(path)
            if self._gb_spec.mode != "bwrap":
                raise SandboxUnavailable("SandboxKernelManager needs sandbox mode 'bwrap'")
            prepare_scratch(self._gb_spec)
            kwargs["transport"] = "ipc"
            kwargs["ip"] = os.path.join(self._gb_spec.scratch, "k")
            kwargs["connection_file"] = os.path.join(self._gb_spec.scratch, "kernel.json")
            kwargs.pop("kernel_name", None)
            super().__init__(*args, **kwargs)

        @property
        def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
            return KernelSpec(
                argv=[self._gb_spec.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="gradebot sandbox",
                language="python",
                interrupt_mode="message",
                env={},
                metadata={},
            )

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = super().format_kernel_cmd(extra_arguments)
            spec = self._gb_spec
            prepare_scratch(spec)
            # the kernel's working dir: a writable copy of the files nbgrader placed next to the notebook
            # (e.g. helper modules from source/<assignment>), never the notebook itself
            cwd = self._launch_args.get("cwd") if isinstance(self._launch_args, dict) else None
            if cwd and os.path.isdir(cwd):
                for entry in os.listdir(cwd):
                    src = os.path.join(cwd, entry)
                    if entry.endswith(".ipynb") or entry.startswith("."):
                        continue
                    dst = os.path.join(spec.workdir, entry)
                    if os.path.isdir(src):
                        shutil.copytree(src, dst, dirs_exist_ok=True)
                    elif os.path.isfile(src):
                        shutil.copy2(src, dst)
            give_to_sandbox(spec, spec.workdir)
            give_to_sandbox(spec, self.connection_file)
            if os.environ.get("NBGRADER_EXECUTION"):  # set by nbgrader autograde; notebooks may check it
                spec.env["NBGRADER_EXECUTION"] = os.environ["NBGRADER_EXECUTION"]
            return bwrap_argv(spec, cmd)

    return SandboxKernelManager


_KM_CLASS = None


def kernel_manager_class() -> type:
    """The SandboxKernelManager class (built lazily so importing this module does not import jupyter_client)."""
    global _KM_CLASS
    if _KM_CLASS is None:
        _KM_CLASS = _make_kernel_manager_class()
    return _KM_CLASS


def __getattr__(name: str):
    if name == "SandboxKernelManager":
        return kernel_manager_class()
    raise AttributeError(name)


# ---------------------------------------------------------------------------------------------- slots
_held_slots: dict[int, Any] = {}


def acquire_slot(first: int = 1, last: int = 999) -> int:
    """Reserve a slot number unique on this host (a flock'd file under the system tmp dir, held while the
    process lives). A slot selects the sandbox uid, so two concurrent jobs never share RLIMIT_NPROC."""
    import fcntl
    import tempfile

    d = Path(tempfile.gettempdir()) / "gradebot-slots"
    d.mkdir(mode=0o755, exist_ok=True)
    for n in range(first, last + 1):
        if n in _held_slots:
            continue
        f = open(d / f"{n}.lock", "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _held_slots[n] = f
        return n
    raise SandboxUnavailable(f"no free sandbox slot in {first}..{last}")


def release_slot(n: int) -> None:
    f = _held_slots.pop(n, None)
    if f is not None:
        f.close()
