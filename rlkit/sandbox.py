"""Run untrusted, model-written Python in a confined child process, and judge its tests from outside.

Layers, from the outside in (``layers()`` says which are on here and why any is off):

* **process**: each program runs in a child forked for it by a small trusted server (``sandbox_child.py``,
  ``python -I -B``: no user site, no environment variables read, no bytecode written; started once and
  reused, since an interpreter start costs more than a short program). The child gets a new session and
  process group, a fresh temporary directory as working directory, ``HOME`` and ``TMPDIR``, a scrubbed
  environment (no tokens, no keys), no stdin and none of the server's descriptors, and output to a file of
  bounded size; after the wall-clock timeout its whole group is killed (always killed at the end, finished
  or not), and the directory is removed afterwards;
* **namespaces** (where the system allows unprivileged user namespaces): ``unshare`` gives the server and
  its children their own network (nothing to connect to), its own process ids (it cannot see or signal the user's other
  processes, or read their ``/proc/<pid>/environ``) and its own mounts;
* **limits** (set by the child before the untrusted code): CPU seconds (hard = soft + 1), address space,
  file size, open files, no core files;
* **seccomp** (Linux, via ``pyseccomp``; no root needed): refuses running programs, creating processes
  (threads stay allowed), sockets, signals to other processes, ptrace, namespaces and mounts, raising
  limits, changing ids, and every call that creates, changes or deletes a file, opening for writing
  included.

Modes: ``"strict"`` (the default) needs every layer but the namespaces and refuses to run without
them, saying which is missing; ``"limits-only"`` is an explicit opt-in for systems without seccomp
(macOS, Windows' WSL1, a Linux without libseccomp): process, namespaces where possible and limits, plus a
process-count limit, but nothing stops file writes or network use. Choose it with ``mode=`` or the
environment variable ``RLKIT_SANDBOX=limits-only``.

Tests are judged outside the untrusted process: the child sends back the values each ``assert``
compared, encoded from exact built-in types only, and :func:`judge` compares them here. So exiting with
status 0 before the tests, an ``atexit`` hook, printing "passed" or returning an object whose ``__eq__``
always says yes passes nothing.

Not blocked: reading files the user can read (``~/.ssh``, ``~/.cache``, tokens stored on disk); only a
container or a mount namespace that hides them does that. See the README's "Code sandbox" section.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import importlib.util
import json
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rlkit.errors import RlkitError

MODES = ("strict", "limits-only")
MODE_VARIABLE = "RLKIT_SANDBOX"
_CHILD = Path(__file__).with_name("sandbox_child.py")
_NAMESPACES = ["unshare", "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--mount-proc",
               "--kill-child"]
_KEEP_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "PATH": "/usr/bin:/bin"}


@dataclass(frozen=True)
class Limits:
    """What one run may use. Defaults fit the short functions of code benchmarks."""

    cpu_s: float = 5.0  # CPU seconds; the kernel stops the child at cpu_s + 1
    wall_s: float = 10.0  # wall clock, then the whole process group is killed
    memory_mb: int = 1024  # address space (Python itself takes about 30 MB)
    file_mb: int = 4  # largest file, the output file included (an output flood stops here)
    open_files: int = 64
    output_chars: int = 4000  # how much of the output is read back
    processes: int = 64  # limits-only mode: the process count (seccomp refuses fork in strict mode)

    def __post_init__(self) -> None:
        for name in ("cpu_s", "wall_s", "memory_mb", "file_mb", "open_files", "output_chars", "processes"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise RlkitError(f"sandbox Limits.{name} must be a positive number, got {value!r}")


@dataclass
class Run:
    """What happened to one program.

    ``status``: ``"ok"`` (the harness finished every test), ``"program_error"`` (the code did not compile
    or raised, ``SystemExit`` included, before the tests), ``"timeout"`` (wall clock), ``"killed"`` (the
    child died: CPU or memory limit, a crash), or ``"refused"`` (a required layer could not be set up;
    ``error`` says which). ``results`` has one entry per test: ``True``, or the reason it failed.
    """

    status: str
    results: list = field(default_factory=list)
    error: str = ""
    output: str = ""
    seconds: float = 0.0
    returncode: int | None = None

    @property
    def passed(self) -> bool:
        """Every test ran and passed (and there was at least one)."""
        return self.status == "ok" and bool(self.results) and all(r is True for r in self.results)


# --------------------------------------------------------------------------- layers


def resolve_mode(mode: str | None = None) -> str:
    """The mode to use: ``mode``, else ``$RLKIT_SANDBOX``, else ``"strict"``."""
    chosen = mode or os.environ.get(MODE_VARIABLE) or "strict"
    if chosen not in MODES:
        raise RlkitError(f"Unknown sandbox mode {chosen!r} (from {'mode=' if mode else MODE_VARIABLE}); "
                         f"use one of {', '.join(MODES)}")
    return chosen


@functools.lru_cache(maxsize=1)
def _namespaces_state() -> str:
    """``"on"`` when ``unshare`` can give the child its own user, network, pid and mount namespaces."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return "off: needs Linux and util-linux's unshare"
    try:
        probe = subprocess.run([*_NAMESPACES, "true"], check=False, capture_output=True, timeout=10, text=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"off: unshare failed ({exc})"
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit {probe.returncode}"
        return f"off: unprivileged user namespaces are blocked here ({reason})"
    return "on"


@functools.lru_cache(maxsize=1)
def _seccomp_state() -> str:
    """``"on"`` when a seccomp filter loads in a child and refuses ``fork`` there."""
    if not sys.platform.startswith("linux"):
        return f"off: seccomp is Linux only (this is {sys.platform})"
    try:
        import pyseccomp  # noqa: F401
    except ImportError:
        return "off: the pyseccomp package is not installed (pip install pyseccomp)"
    except OSError as exc:  # the package is there, libseccomp is not
        return f"off: libseccomp is missing ({exc}); install it (Debian/Ubuntu: apt install libseccomp2)"
    run = _execute("import os\nos.fork()\n", ["__import__('os').getpid() > 0"], Limits(), seccomp=True,
                   namespaces=False)
    if run.status == "refused":
        return f"off: {run.error}"
    if run.status != "program_error" or "PermissionError" not in run.error:
        return f"off: the filter loaded but fork was not refused ({run.status}: {run.error or run.output})"
    return "on"


def layers(mode: str | None = None) -> dict[str, str]:
    """Each layer and whether it is on here (``"on"`` or ``"off: why"``), for ``mode``.

    >>> sorted(layers("strict"))
    ['limits', 'namespaces', 'process', 'seccomp']
    """
    mode = resolve_mode(mode)
    state = {"process": "on", "limits": "on" if os.name == "posix" else "off: needs a POSIX system",
             "namespaces": _namespaces_state()}
    state["seccomp"] = _seccomp_state() if mode == "strict" else "off: not used in limits-only mode"
    return state


def check(mode: str | None = None) -> dict[str, str]:
    """Return ``layers(mode)``, or raise :class:`RlkitError` saying what to change when a required one is off."""
    mode = resolve_mode(mode)
    state = layers(mode)
    required = ("process", "limits", "seccomp") if mode == "strict" else ("process", "limits")
    missing = {name: state[name] for name in required if state[name] != "on"}
    if missing:
        detail = "; ".join(f"{name} {why}" for name, why in missing.items())
        hint = ("" if mode != "strict" else
                f" To run model-written code with less protection (no seccomp: nothing stops it writing files "
                f"or using the network), opt in with {MODE_VARIABLE}=limits-only; see the README's 'Code sandbox'.")
        raise RlkitError(f"The code sandbox cannot run in {mode} mode here: {detail}.{hint}")
    return state


def describe(mode: str | None = None) -> str:
    """One line for a banner: the mode and each layer's state."""
    mode = resolve_mode(mode)
    return f"sandbox {mode}: " + ", ".join(f"{name} {why}" for name, why in layers(mode).items())


# --------------------------------------------------------------------------- running


def run(code: str, tests: Sequence[str] = (), *, limits: Limits | None = None, mode: str | None = None) -> Run:
    """Run ``code``, then each test (an ``assert`` statement, or set-up code), in the sandbox.

    Never raises because of what ``code`` does; raises :class:`RlkitError` when the sandbox itself cannot
    be set up in ``mode`` (see :func:`check`).
    """
    mode = resolve_mode(mode)
    state = check(mode)
    limits = limits or Limits()
    if not isinstance(code, str) or not all(isinstance(t, str) for t in tests):
        return Run("program_error", error="code and tests must be strings")
    return _execute(code, list(tests), limits, seccomp=mode == "strict", namespaces=state["namespaces"] == "on",
                    processes=None if mode == "strict" else limits.processes)


def run_many(jobs: Iterable[tuple[str, Sequence[str]]], *, limits: Limits | None = None, mode: str | None = None,
             workers: int | None = None) -> list[Run]:
    """Run ``(code, tests)`` jobs in parallel, as many at once as this machine has cores."""
    jobs = list(jobs)
    if not jobs:
        return []
    check(mode)  # once, before any thread starts
    workers = workers or max(1, min(len(jobs), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                    else os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: run(job[0], job[1], limits=limits, mode=mode), jobs))


@functools.lru_cache(maxsize=1)
def _pyseccomp_dir() -> str | None:
    """Where this interpreter finds pyseccomp; the child (run with ``-I``) looks there first."""
    spec = importlib.util.find_spec("pyseccomp")
    return os.path.dirname(spec.origin) if spec and spec.origin else None


_IDLE_S = 120.0  # a server with no job for this long leaves (the parent replaces one idle for half of it)
_SERVERS: dict[tuple, list[_Server]] = {}  # idle servers by (seccomp, namespaces), for this process only
_SERVERS_LOCK = threading.Lock()
_SERVERS_PID = os.getpid()


class _Server:
    """One ``sandbox_child.py --serve`` process (in its namespaces where they are on): forks a child per job.

    Started once and reused, so a program costs a fork instead of an interpreter start (about 6 times less).
    It never runs untrusted code itself; it leaves when its stdin closes or after ``_IDLE_S`` without a job.
    """

    def __init__(self, seccomp: bool, namespaces: bool) -> None:
        self.namespaces = namespaces
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - the server's stderr for its life; closed in close()
        command = [*(_NAMESPACES if namespaces else []), sys.executable, "-I", "-B", str(_CHILD), "--serve",
                   str(_IDLE_S), (_pyseccomp_dir() or "") if seccomp else ""]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                     cwd="/", env=dict(_KEEP_ENV), start_new_session=True, bufsize=0)
        self.buffer = b""
        self.sequence = 0  # answers carry their job's number: an answer out of turn stops the server
        self.last_used = time.monotonic()

    def usable(self) -> bool:
        return self.proc.poll() is None and time.monotonic() - self.last_used < _IDLE_S / 2

    def execute(self, job: dict, wall_s: float) -> tuple[dict | None, str]:
        """Send one job; (the server's final answer, "") or (None, what went wrong, the server then closed)."""
        self.last_used = time.monotonic()
        self.sequence += 1
        job = {**job, "sequence": self.sequence}
        try:
            line = memoryview((json.dumps(job) + "\n").encode())
            while line:
                line = line[self.proc.stdin.write(line) :]
        except OSError:
            return None, self._failure("the sandbox server stopped before the job was sent")
        started = self._answer(time.monotonic() + 30.0)  # the fork: milliseconds, unless the machine is stuck
        if started is None:
            return None, self._failure("the sandbox server did not start the job")
        done = self._answer(time.monotonic() + wall_s + 10.0)
        if done is None:  # the server itself is stuck: stop it and, outside a pid namespace, the child too
            if not self.namespaces and isinstance(started.get("pid"), int):
                try:
                    os.killpg(started["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            return None, self._failure("the sandbox server did not answer within the wall-clock limit")
        self.last_used = time.monotonic()
        return done, ""

    def _answer(self, deadline: float) -> dict | None:
        out = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not _readable(out, left):
                return None
            chunk = os.read(out, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            return None
        return answer if isinstance(answer, dict) and answer.get("sequence") == self.sequence else None

    def _failure(self, what: str) -> str:
        self.errors.seek(0)
        detail = self.errors.read()[-500:].decode("utf-8", "replace").strip()
        self.close()
        return f"{what} ({detail.splitlines()[-1]})" if detail else what

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        _kill_group(self.proc)  # a pid namespace's init gone takes every process in it along
        self.errors.close()


def _readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has data (or its end) within ``timeout`` seconds. poll, not select, where there is one: a
    busy process's descriptor numbers can pass select's limit of 1024."""
    if hasattr(select, "poll"):
        waiting = select.poll()
        waiting.register(fd, select.POLLIN)
        return bool(waiting.poll(timeout * 1000))
    return bool(select.select([fd], [], [], timeout)[0])


def _acquire(key: tuple[bool, bool]) -> _Server:
    global _SERVERS_PID
    with _SERVERS_LOCK:
        if _SERVERS_PID != os.getpid():  # a forked copy of this process: those servers are the parent's
            _SERVERS.clear()
            _SERVERS_PID = os.getpid()
        idle = _SERVERS.setdefault(key, [])
        while idle:
            server = idle.pop()
            if server.usable():
                return server
            server.close()
    return _Server(*key)


def _release(key: tuple[bool, bool], server: _Server) -> None:
    with _SERVERS_LOCK:
        if _SERVERS_PID == os.getpid():
            _SERVERS.setdefault(key, []).append(server)
            return
    server.close()


def shutdown() -> None:
    """Stop the idle sandbox servers now (they also leave at exit, or after two idle minutes)."""
    with _SERVERS_LOCK:
        servers = [server for idle in _SERVERS.values() for server in idle] if _SERVERS_PID == os.getpid() else []
        _SERVERS.clear()
    for server in servers:
        server.close()


atexit.register(shutdown)


def _execute(code: str, tests: list[str], limits: Limits, *, seccomp: bool, namespaces: bool,
             processes: int | None = None) -> Run:
    workdir = tempfile.mkdtemp(prefix="rlkit-sandbox-")
    out_path, results_path = os.path.join(workdir, ".output"), os.path.join(workdir, ".results")
    job = {"nonce": secrets.token_hex(16), "code": code, "tests": tests, "seccomp": seccomp, "workdir": workdir,
           "limits": {**dataclasses.asdict(limits), "processes": processes}}
    start = time.perf_counter()
    try:
        for path in (out_path, results_path):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        key = (seccomp, namespaces)
        server = _acquire(key)
        done, failure = server.execute(job, limits.wall_s)
        if done is None:
            return Run("killed", error=failure, seconds=time.perf_counter() - start)
        _release(key, server)
        seconds = time.perf_counter() - start
        records = _records(results_path, job["nonce"])
        if not any(record.get("ready") for record in records):  # the child died before it could run anything
            return Run("refused", error="process: the child could not set up its directory and descriptors "
                       f"(exit status {done.get('returncode')})", seconds=seconds, returncode=done.get("returncode"))
        return _outcome(records, len(tests), bool(done.get("timed_out")), done.get("returncode"),
                        _read_head(out_path, limits.output_chars), seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
        pass


def _read_head(path: str, chars: int) -> str:
    """The first ``chars`` characters of what the program printed."""
    try:
        with open(path, "rb") as handle:
            return handle.read(chars * 4).decode("utf-8", "replace")[:chars]
    except OSError:
        return ""


def _records(path: str, nonce: str) -> list[dict]:
    """The harness's records: lines that start with this run's nonce (the program cannot know it)."""
    records = []
    prefix = nonce + " "
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(prefix):
                    try:
                        records.append(json.loads(line[len(prefix):]))
                    except json.JSONDecodeError:
                        continue
    except OSError:
        pass
    return records


def _outcome(records: list[dict], n_tests: int, timed_out: bool, returncode: int | None, output: str,
             seconds: float) -> Run:
    run = Run("killed", error="", output=output, seconds=seconds, returncode=returncode)
    for record in records:
        if "layer_error" in record:
            run.status, run.error = "refused", record["layer_error"]
            return run
    results: dict[int, object] = {}
    for record in records:
        if "program_error" in record:
            run.status, run.error = "program_error", record["program_error"]
            return run
        if "test" in record and isinstance(record["test"], int) and 0 <= record["test"] < n_tests:
            results.setdefault(record["test"], judge(record))
    run.results = [results.get(i, "not run") for i in range(n_tests)]
    done = any(record.get("done") == n_tests for record in records)
    if done:
        run.status = "ok"
    elif timed_out:
        run.status, run.error = "timeout", "wall-clock limit reached"
    else:
        run.error = f"the child stopped before the tests finished (exit status {returncode})"
    return run


# --------------------------------------------------------------------------- judging


class _Undecodable(ValueError):
    pass


_SCALARS = {"none": lambda: None, "bool": bool, "int": int, "float": float,
            "complex": lambda re, im: complex(float(re), float(im)), "str": str, "bytes": bytes.fromhex}
_CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


def decode(node: object) -> object:
    """Rebuild a value the harness encoded (exact built-in types only).

    >>> decode(["list", [["int", "1"], ["float", "2.5"], ["none"]]])
    [1, 2.5, None]
    """
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise _Undecodable(f"malformed value {str(node)[:80]}")
    tag, args = node[0], node[1:]
    try:
        if tag in _SCALARS:
            if tag == "bool" and not isinstance(args[0], bool):
                raise _Undecodable("bool")
            return _SCALARS[tag](*args)
        items = args[0]
        if tag == "dict":
            return {decode(key): decode(value) for key, value in items}
        return _CONTAINERS[tag](decode(item) for item in items)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise _Undecodable(f"malformed {tag} value ({exc})") from exc


_COMPARE = {
    "Eq": lambda a, b: a == b, "NotEq": lambda a, b: a != b, "Lt": lambda a, b: a < b, "LtE": lambda a, b: a <= b,
    "Gt": lambda a, b: a > b, "GtE": lambda a, b: a >= b, "In": lambda a, b: a in b, "NotIn": lambda a, b: a not in b,
}


def judge(record: dict) -> object:
    """``True`` when one test record passed, else the reason it did not (a string).

    The comparison runs here, on rebuilt built-in values, with Python's own semantics (``1 == 1.0``,
    ``[1, 2] == [1, 2]``; NaN equals nothing). ``is``/``is not`` only against ``None``, ``True``, ``False``.

    >>> judge({"test": 0, "ops": ["Eq"], "values": [["int", "3"], ["float", "3.0"]]})
    True
    >>> judge({"test": 0, "ops": ["Eq"], "values": [["int", "3"], ["int", "4"]]})
    'assertion failed'
    """
    if record.get("setup"):
        return True
    if "error" in record:
        return str(record["error"])[:300]
    try:
        ops, values = record["ops"], [decode(v) for v in record["values"]]
        if not ops:
            return True if len(values) == 1 and bool(values[0]) else "assertion failed"
        if len(values) != len(ops) + 1:
            return "malformed test record"
        for op, left, right in zip(ops, values, values[1:]):
            if not _compare(op, left, right):
                return "assertion failed"
    except (_Undecodable, KeyError, TypeError, ValueError, OverflowError) as exc:
        return f"cannot judge: {exc}"
    return True


def _compare(op: str, left: object, right: object) -> bool:
    if op in ("Is", "IsNot"):
        if not any(right is singleton or left is singleton for singleton in (None, True, False)):
            raise ValueError("'is' compares only with None, True or False")
        same = left is right
        return same if op == "Is" else not same
    if op not in _COMPARE:
        raise ValueError(f"unknown comparison {op}")
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right):
        return op == "NotEq"
    return bool(_COMPARE[op](left, right))
