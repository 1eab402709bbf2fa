"""The trusted bootstrap of ``rlkit.sandbox``: runs in the child process, before and around the untrusted code.

Run as a script (``python -I -B sandbox_child.py``), never imported by the kit: it uses only the standard
library and ``pyseccomp``, so the child starts in a few tens of milliseconds. The parent writes one JSON job
to its stdin (``nonce``, ``code``, ``tests``, ``limits``, ``seccomp``); the child

1. reads the job, closes stdin, imports what it needs (``pyseccomp`` runs ``ldconfig`` when imported, so it
   must come before the filter);
2. lowers its limits (CPU with hard = soft + 1 s, address space, file size, open files, no core files);
3. loads a seccomp filter that refuses new programs and processes, sockets, signals to other processes,
   ptrace, namespaces and mounts, raising limits, changing ids, and every call that creates, changes or
   deletes a file (opening for writing included); threads stay allowed;
4. runs the untrusted code, then each test, and writes one line per result to the results file, prefixed
   by the nonce. A result carries the *values* the test compared, encoded from exact built-in types only;
   the parent decodes them and compares them itself, so an object whose ``__eq__`` always says yes, an early
   ``sys.exit(0)`` or an ``atexit`` hook cannot make a test pass.

A program written to attack this harness inside its own process (reading the nonce out of memory, patching
it through ``ctypes``) can forge results: that costs a wrong reward, never an escape, since the limits and
the filter hold for the whole process.
"""

import ast
import builtins
import errno
import json
import os
import resource
import sys
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


class _Writer:
    def __init__(self, fd, nonce):
        self.fd, self.nonce = fd, nonce

    def __call__(self, record):
        line = (self.nonce + " " + json.dumps(record) + "\n").encode("utf-8", "replace")
        view = memoryview(line)
        while view:
            view = view[os.write(self.fd, view) :]


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
        except BaseException:  # noqa: S110 - a closed or replaced stream loses its output, nothing else
            pass
    os._exit(0)


def main():
    job = json.loads(sys.stdin.read())
    os.close(0)
    write = _Writer(int(job["results_fd"]), job["nonce"])
    seccomp = None
    if job["seccomp"]:
        if job.get("pyseccomp_dir"):  # where the parent found it (this interpreter runs with -I)
            sys.path.insert(0, job["pyseccomp_dir"])
        try:
            import pyseccomp as seccomp  # before the limits: it runs ldconfig when imported
        except (ImportError, OSError) as exc:
            write({"layer_error": f"seccomp: cannot import pyseccomp ({_error_text(exc)})"})
            _exit()
        if job.get("pyseccomp_dir"):
            del sys.path[0]
    try:
        _set_limits(job["limits"])
    except (OSError, ValueError) as exc:
        write({"layer_error": f"limits: {_error_text(exc)}"})
        _exit()
    for name in _PRELOADED:  # loaded before the snapshot, so the program cannot patch them for the tests
        __import__(name)
    restore = _Restorer()
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    if seccomp is not None:
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


if __name__ == "__main__":
    main()
