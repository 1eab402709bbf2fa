"""The trusted side of ``rlkit.sandbox``: a small server that forks one confined child per program.

Run as a script (``python -I -B sandbox_child.py --serve IDLE_S [PYSECCOMP_DIR]``), never imported by the kit:
it uses only the standard library and ``pyseccomp``. Starting a Python interpreter and importing ``pyseccomp``
costs tens of milliseconds, more than a short program takes, so the parent starts this server once (inside
the namespaces, where they are on) and sends it one JSON job per line on stdin (``nonce``, ``code``,
``tests``, ``limits``, ``seccomp``, ``workdir``). For each job the server

1. forks a child and answers ``{"pid": ...}``; the untrusted code only ever runs in that child;
2. waits for the child at most ``wall_s`` seconds, then kills its whole process group (finished or not),
   reaps it and answers ``{"returncode": ..., "timed_out": ...}``.

The child, before any untrusted code:

1. starts a new session, moves into the job's fresh directory, points HOME and TMPDIR there, sends its
   output to ``.output`` and its results to ``.results`` there, and closes every other descriptor (the
   server's pipes included) and stdin;
2. lowers its limits (CPU with hard = soft + 1 s, address space, file size, open files, no core files);
3. loads a seccomp filter that refuses new programs and processes, sockets, signals to other processes,
   ptrace, namespaces and mounts, raising limits, changing ids, and every call that creates, changes or
   deletes a file (opening for writing included); threads stay allowed;
4. runs the untrusted code, then each test, and writes one line per result to the results file, prefixed
   by the nonce. A result carries the *values* the test compared, encoded from exact built-in types only;
   the parent decodes them and compares them itself, so an object whose ``__eq__`` always says yes, an early
   ``sys.exit(0)`` or an ``atexit`` hook cannot make a test pass.

The server never runs untrusted code, and leaves when its stdin closes or after ``IDLE_S`` seconds without a
job. A program written to attack this harness inside its own process (reading the nonce out of memory,
patching it through ``ctypes``) can forge results: that costs a wrong reward, never an escape, since the
limits and the filter hold for the whole process.
"""

import ast
import builtins
import errno
import json
import os
import resource
import select
import signal
import sys
import time
import types

# Exact types a test value may have; anything else (a user class, a subclass of int...) cannot be judged.
_DATA_TYPES = (type(None), bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict)
# Types a call inside a test expression may return: data, or the built-in lazy iterables around it.
_CALL_TYPES = frozenset(
    _DATA_TYPES
    + (bytearray, range, map, filter, zip, enumerate, reversed, types.GeneratorType)
    + tuple(type(iter(x)) for x in ([], (), "", b"", {}, set(), range(1)))
    + (type({}.keys()), type({}.values()), type({}.items()))
)
# Standard modules tests often use (``math.isclose``...), loaded before the snapshot of module namespaces.
_PRELOADED = ("collections", "functools", "heapq", "itertools", "math", "re", "string")
_MAX_ITEMS = 100_000  # most items in one encoded value
_MAX_DEPTH = 50


class _Unjudgeable(Exception):
    """A test value the parent cannot judge (wrong type, too big, too deep)."""


def _encode(value, budget):
    """Encode ``value`` as JSON-ready data, tagging each node with its exact built-in type."""
    stack_depth = budget.setdefault("depth", 0)
    budget["items"] = budget.get("items", 0) + 1
    if budget["items"] > _MAX_ITEMS or stack_depth > _MAX_DEPTH:
        raise _Unjudgeable("value too large or too deep")
    kind = type(value)
    if kind not in _DATA_TYPES:
        raise _Unjudgeable(f"a {kind.__module__}.{kind.__qualname__} is not a built-in value")
    if value is None:
        return ["none"]
    if kind is bool:
        return ["bool", value]
    if kind is int:
        return ["int", str(value)]
    if kind is float:
        return ["float", repr(value)]
    if kind is complex:
        return ["complex", repr(value.real), repr(value.imag)]
    if kind is str:
        return ["str", value]
    if kind is bytes:
        return ["bytes", value.hex()]
    budget["depth"] = stack_depth + 1
    try:
        if kind is dict:
            return ["dict", [[_encode(k, budget), _encode(v, budget)] for k, v in value.items()]]
        return [kind.__name__, [_encode(item, budget) for item in value]]
    finally:
        budget["depth"] = stack_depth


class _CheckCalls(ast.NodeTransformer):
    """Wrap every call in a test expression: its result must be a built-in value or iterable."""

    def visit_Call(self, node):
        self.generic_visit(node)
        return ast.Call(func=ast.Name("__rlkit_checked__", ast.Load()), args=[node], keywords=[])


def _checked(value):
    """Let a call's result through only if it is built-in data all the way down, or a built-in iterable."""
    kind = type(value)
    if kind not in _CALL_TYPES:
        raise _Unjudgeable(f"a call returned a {kind.__module__}.{kind.__qualname__}, not a built-in value")
    if kind in _DATA_TYPES:
        _encode(value, {})  # a list holding an always-equal object is refused here, not compared in the child
    return value


def _expression(node):
    tree = ast.fix_missing_locations(ast.Expression(_CheckCalls().visit(node)))
    return compile(tree, "<test>", "eval")


def _set_limits(limits):
    cpu = max(1, int(limits["cpu_s"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits["memory_mb"]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    size = int(limits["file_mb"]) * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(limits["open_files"]), int(limits["open_files"])))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.get("processes") is not None:  # only in the weaker "limits-only" mode, where no filter stops fork
        resource.setrlimit(resource.RLIMIT_NPROC, (int(limits["processes"]), int(limits["processes"])))


# Calls refused outright (EPERM). Names missing on this architecture (fork and open on arm64) are skipped.
_DENIED = (  # noqa: SIM905 - one readable block of names
    "execve execveat fork vfork ptrace process_vm_readv process_vm_writev kcmp pidfd_open pidfd_send_signal "
    "pidfd_getfd tkill rt_sigqueueinfo rt_tgsigqueueinfo setsid setpgid socket socketpair connect bind listen "
    "accept accept4 unshare setns mount umount2 pivot_root chroot move_mount open_tree fsopen fsmount fsconfig "
    "fspick mount_setattr setrlimit setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid setgroups "
    "capset unlink unlinkat rename renameat renameat2 rmdir mkdir mkdirat link linkat symlink symlinkat chmod "
    "fchmod fchmodat fchmodat2 chown fchown lchown fchownat truncate ftruncate utime utimes utimensat futimesat "
    "mknod mknodat creat setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr name_to_handle_at "
    "open_by_handle_at io_uring_setup io_uring_enter io_uring_register bpf perf_event_open userfaultfd keyctl "
    "add_key request_key init_module finit_module delete_module kexec_load kexec_file_load reboot swapon swapoff "
    "acct quotactl syslog sethostname setdomainname iopl ioperm personality fanotify_init inotify_init "
    "inotify_init1 lookup_dcookie"
).split()
_OPEN_WRITE_BITS = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND)
_CLONE_THREAD = 0x00010000


def _add(flt, seccomp, action, name, *args):
    try:
        flt.add_rule(action, name, *args)
    except (OSError, ValueError, RuntimeError):
        if _exists(seccomp, name):  # the call exists here and still could not be filtered: fail closed
            raise


def _exists(seccomp, name):
    try:
        return seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) >= 0
    except (OSError, ValueError, RuntimeError):
        return False


def _load_filter(seccomp):
    deny = seccomp.ERRNO(errno.EPERM)
    flt = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in _DENIED:
        _add(flt, seccomp, deny, name)
    me = os.getpid()
    _add(flt, seccomp, deny, "kill", seccomp.Arg(0, seccomp.NE, me))  # signals only to itself
    _add(flt, seccomp, deny, "tgkill", seccomp.Arg(0, seccomp.NE, me))
    _add(flt, seccomp, deny, "prlimit64", seccomp.Arg(2, seccomp.NE, 0))  # reading limits is fine, setting is not
    _add(flt, seccomp, deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0))  # threads only
    _add(flt, seccomp, seccomp.ERRNO(errno.ENOSYS), "clone3")  # glibc then falls back to clone for threads
    _add(flt, seccomp, seccomp.ERRNO(errno.ENOSYS), "openat2")  # its flags sit in a struct a filter cannot read
    for bit in _OPEN_WRITE_BITS:
        _add(flt, seccomp, deny, "open", seccomp.Arg(1, seccomp.MASKED_EQ, bit, bit))
        _add(flt, seccomp, deny, "openat", seccomp.Arg(2, seccomp.MASKED_EQ, bit, bit))
    flt.load()


def _write_all(fd, data):
    """Write all of ``data`` to ``fd`` (one os.write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Writer:
    def __init__(self, fd, nonce):
        self.fd, self.nonce = fd, nonce

    def __call__(self, record):
        _write_all(self.fd, (self.nonce + " " + json.dumps(record) + "\n").encode("utf-8", "replace"))


def _error_text(exc):
    return f"{type(exc).__name__}: {str(exc)[:300]}"


class _Restorer:
    """Snapshot of builtins and loaded modules, put back before each test so the program cannot patch them."""

    def __init__(self):
        self.modules = {name: (mod, dict(vars(mod))) for name, mod in list(sys.modules.items())
                        if isinstance(mod, types.ModuleType)}

    def __call__(self):
        for mod, saved in self.modules.values():
            namespace = vars(mod)
            for key in [k for k in namespace if k not in saved]:
                del namespace[key]
            namespace.update(saved)


def _run_tests(tests, namespace, write, restore):
    true_builtins = dict(restore.modules["builtins"][1])
    for index, test in enumerate(tests):
        restore()
        # A test's own names for built-ins (abs, sorted, set...) mean the real ones, even if the program
        # defined a global of the same name; the program's functions still see their own globals.
        scope = {**namespace, **{name: true_builtins[name] for name in namespace if name in true_builtins
                                 and not name.startswith("__")}}
        try:
            write(_judge(test, index, scope, namespace))
        except BaseException as exc:  # noqa: BLE001 - the test's own error, or the program's: the test fails
            write({"test": index, "error": _error_text(exc)})


def _judge(test, index, scope, namespace):
    tree = ast.parse(test)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):  # set-up code in the test list
        # Set-up code, or asserts inside a loop: it runs here, so every call in it is checked as in a test.
        tree = ast.fix_missing_locations(_CheckCalls().visit(tree))
        exec(compile(tree, "<test>", "exec"), namespace)  # noqa: S102 - inside the sandbox, kept for later tests
        return {"test": index, "setup": True}
    condition = tree.body[0].test
    if isinstance(condition, ast.Compare):
        operands = [condition.left, *condition.comparators]
        ops = [type(op).__name__ for op in condition.ops]
    else:
        operands, ops = [condition], []
    values = [_encode(eval(_expression(node), scope), {}) for node in operands]
    return {"test": index, "ops": ops, "values": values}


def _exit():
    """Flush what the program printed, then leave without running its atexit hooks or finalizers."""
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001, S110 - a closed or replaced stream loses its output, nothing else
            pass
    os._exit(0)


RESULTS_FD = 3  # the child's results file
PROGRAM_NAME = "rlkit-program"  # the child's process name
SETUP_FAILED = 70  # the child's exit status when it could not set itself up (no untrusted code ran)


def _child(job, seccomp, seccomp_error, restore):
    """In the forked child: confine this process, run the job, leave. Never returns to the server's loop."""
    try:
        try:
            os.setsid()
            workdir = job["workdir"]
            os.chdir(workdir)
            output = os.open(".output", os.O_WRONLY | os.O_APPEND)
            results = os.open(".results", os.O_WRONLY | os.O_APPEND)
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.dup2(results, RESULTS_FD)
            os.close(0)
            os.closerange(RESULTS_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])  # the server's pipes
            for name in ("HOME", "TMPDIR", "TMP", "TEMP"):
                os.environ[name] = workdir
            try:  # a name in ps and /proc, so a program's process is told from the server it was forked from
                with open("/proc/self/comm", "w") as comm:
                    comm.write(PROGRAM_NAME)
            except OSError:
                pass
        except BaseException:  # noqa: BLE001 - nothing untrusted ran; the parent reports the set-up failure
            os._exit(SETUP_FAILED)
        _run_job(job, seccomp, seccomp_error, restore)
    finally:
        os._exit(SETUP_FAILED)  # _run_job leaves through _exit; this only guards the server's loop


def _run_job(job, seccomp, seccomp_error, restore):
    write = _Writer(RESULTS_FD, job["nonce"])
    write({"ready": True})  # set up: from here on an exit is the job's, not a failed set-up
    if job["seccomp"] and seccomp is None:
        write({"layer_error": f"seccomp: cannot import pyseccomp ({seccomp_error})"})
        _exit()
    try:
        _set_limits(job["limits"])
    except (OSError, ValueError) as exc:
        write({"layer_error": f"limits: {_error_text(exc)}"})
        _exit()
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    if job["seccomp"]:
        try:
            _load_filter(seccomp)
        except (OSError, ValueError, RuntimeError) as exc:
            write({"layer_error": f"seccomp: the filter did not load ({_error_text(exc)})"})
            _exit()
    try:
        program = compile(job["code"], "<solution>", "exec")
    except BaseException as exc:  # noqa: BLE001 - SyntaxError, or a compiler limit
        write({"program_error": _error_text(exc)})
        _exit()
    try:
        exec(program, namespace)  # noqa: S102 - the untrusted code, inside every layer
    except BaseException as exc:  # noqa: BLE001 - SystemExit included: a program that exits early passes nothing
        write({"program_error": _error_text(exc)})
        _exit()
    namespace["__rlkit_checked__"] = _checked
    _run_tests(job["tests"], namespace, write, restore)
    write({"done": len(job["tests"])})
    _exit()


def _wait(pid, wall_s):
    """Wait for the child at most ``wall_s`` seconds; kill its process group; reap it. (exit code, timed out)."""
    status = None
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # Linux < 5.3: poll
        handle = None
    if handle is not None:
        try:
            timed_out = not select.select([handle], [], [], wall_s)[0]
        finally:
            os.close(handle)
    else:
        deadline, pause = time.monotonic() + wall_s, 0.0005
        while status is None and time.monotonic() < deadline:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code
            else:
                time.sleep(pause)
                pause = min(pause * 2, 0.01)
        timed_out = status is None
    try:
        os.killpg(pid, signal.SIGKILL)  # whatever the program left in its group (limits-only mode)
    except (ProcessLookupError, PermissionError):
        pass
    if status is None:
        status = os.waitpid(pid, 0)[1]
    while True:  # orphans of earlier children (limits-only mode, in a pid namespace) end up here
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    return os.waitstatus_to_exitcode(status), timed_out


def serve(idle_s, pyseccomp_dir):
    """The server's loop: one job per line on stdin, two answers per job on the original stdout."""
    answers = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # nothing the server or a child prints can reach the answers by accident
    os.close(null)
    seccomp = seccomp_error = None
    if pyseccomp_dir:  # where the parent found it (this interpreter runs with -I)
        sys.path.insert(0, pyseccomp_dir)
    try:
        import pyseccomp as seccomp  # here, once: it runs ldconfig when imported
    except (ImportError, OSError) as exc:
        seccomp_error = _error_text(exc)
    if pyseccomp_dir:
        del sys.path[0]
    for name in _PRELOADED:  # loaded before the snapshot, so a program cannot patch them for the tests
        __import__(name)
    restore = _Restorer()
    jobs = sys.stdin.buffer

    def answer(record):
        _write_all(answers, (json.dumps(record) + "\n").encode())

    while select.select([jobs], [], [], idle_s)[0]:
        line = jobs.readline()
        if not line:
            break
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(job, seccomp, seccomp_error, restore)
        answer({"sequence": job["sequence"], "pid": pid})
        returncode, timed_out = _wait(pid, float(job["limits"]["wall_s"]))
        answer({"sequence": job["sequence"], "returncode": returncode, "timed_out": timed_out})


if __name__ == "__main__":
    if sys.argv[1:2] != ["--serve"]:
        sys.exit("usage: python -I -B sandbox_child.py --serve IDLE_S [PYSECCOMP_DIR]")
    serve(float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "")
