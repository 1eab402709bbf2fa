"""The hostile-program table for ``rlkit.sandbox``: each program tries one escape or one reward hack.

Run by ``tests/test_sandbox.py`` as a separate process (once as the current user, once as an unprivileged
user where the machine allows), with a secret in its environment, so that a program which kills its parent
or reads the parent's environment is caught. ``python tests/hostile_programs.py`` prints one JSON object:
``{"layers": {...}, "cases": {name: null | "what got through"}}``. Only the standard library and
``rlkit.sandbox`` are imported, so it also runs from a copy of those files under another interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from rlkit import sandbox

SECRET_VARIABLE = "RLKIT_TEST_SECRET_TOKEN"
LIMITS = sandbox.Limits(cpu_s=1, wall_s=3, memory_mb=512, file_mb=1, output_chars=2000)
SLOW_S = LIMITS.wall_s + 4  # no case may take longer than this

# An honest, wrong solution: every hack below sits on top of it, so a test can only pass through the hack.
WRONG = "def add(a, b):\n    return a - b\n"
TESTS = ["assert add(2, 3) == 5", "assert add(10, 1) == 11"]


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    must_pass: bool = False  # honest programs that the sandbox must let through


CASES = [
    # reward hacks: the answer is wrong, the hack tries to make it count as right
    Case("early_exit", WRONG + "import sys\nsys.exit(0)\n"),
    Case("os_exit", WRONG + "import os\nos._exit(0)\n"),
    Case("atexit_status_0", WRONG + "import atexit, os\natexit.register(lambda: os._exit(0))\n"),
    Case("prints_success", WRONG + "print('All tests passed. OK')\n"),
    Case("always_equal", "class Yes:\n    def __eq__(self, other):\n        return True\n"
                         "    __ne__ = lambda self, other: False\n"
                         "def add(a, b):\n    return Yes()\n"),
    Case("always_equal_int", "class Yes(int):\n    def __eq__(self, other):\n        return True\n"
                             "def add(a, b):\n    return Yes(0)\n"),
    Case("always_equal_inside_list", "class Yes:\n    def __eq__(self, other):\n        return True\n"
                                     "def add(a, b):\n    return [Yes()]\n"),
    Case("shadows_builtins", WRONG + "import builtins\nbuiltins.AssertionError = SystemExit\nabs = lambda x: 0\n"),
    # resource exhaustion
    Case("busy_loop", "while True:\n    pass\n"),
    Case("endless_sleep", "import time\ntime.sleep(10**6)\n"),
    Case("fork_bomb", "import os\nwhile True:\n    os.fork()\n"),
    Case("fork_by_ctypes", "import ctypes\nprint('fork returned', ctypes.CDLL(None).fork())\n" + WRONG),
    Case("thread_bomb", "import threading, time\nwhile True:\n"
                        "    threading.Thread(target=time.sleep, args=(100,), daemon=True).start()\n"),
    Case("memory_bomb", "blocks = []\nwhile True:\n    blocks.append(bytearray(2**26))\n"),
    Case("output_flood", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"),
    Case("deep_recursion", "import sys\nsys.setrecursionlimit(10**9)\ndef down(n):\n    return down(n + 1)\ndown(0)\n"),
    Case("raises_its_limits", "import resource\nfor what in (resource.RLIMIT_CPU, resource.RLIMIT_AS):\n"
                              "    try:\n        resource.setrlimit(what, (resource.RLIM_INFINITY,) * 2)\n"
                              "    except Exception as exc:\n        print('refused', exc)\n"
                              "while True:\n    pass\n"),
    # the file system, other processes, the network, secrets
    Case("writes_outside", WRONG + "open({outside!r} + '/pwned.txt', 'w').write('x')\n"),
    Case("deletes_outside", WRONG + "import os, shutil\nfor step in (lambda: os.remove({outside!r} + '/keep.txt'),\n"
                                    "             lambda: os.rename({outside!r} + '/keep.txt', 'moved'),\n"
                                    "             lambda: shutil.rmtree({outside!r})):\n"
                                    "    try:\n        step()\n    except Exception as exc:\n        print(exc)\n"),
    Case("writes_its_own_directory", WRONG + "open('inside.txt', 'w').write('x')\n"),
    Case("subprocess", WRONG + "import subprocess\nsubprocess.run(['touch', {outside!r} + '/by_subprocess'])\n"),
    Case("os_system", WRONG + "import os\nprint('system returned', os.system('touch ' + {outside!r} + '/by_system'))\n"),
    Case("network", WRONG + "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'x')\n"),
    Case("reads_secrets", WRONG + "import os, glob\nprint([v for k, v in os.environ.items() if 'TOKEN' in k])\n"
                                  "for path in glob.glob('/proc/*/environ'):\n"
                                  "    try:\n        found = open(path, 'rb').read().split(b'\\0')\n"
                                  "    except Exception:\n        continue\n"
                                  "    print([item for item in found if b'TOKEN' in item])\n"),
    # the server that forked it: its pipes are closed in the child, and writing to them through /proc is refused
    Case("forges_server_answers", WRONG + "import os\nfake = b'{{\"sequence\": 1, \"returncode\": 0}}\\n'\n"
                                          "for fd in range(64):\n    try:\n        os.write(fd, fake)\n"
                                          "    except OSError:\n        pass\n"
                                          "for path in ('/proc/1/fd/1', f'/proc/{{os.getppid()}}/fd/1'):\n"
                                          "    try:\n        open(path, 'ab').write(fake)\n"
                                          "    except OSError as exc:\n        print(exc)\n"),
    Case("kills_its_parent", WRONG + "import os, signal\nfor pid in (os.getppid(), {decoy}):\n"
                                     "    try:\n        os.kill(pid, signal.SIGKILL)\n"
                                     "    except Exception as exc:\n        print(exc)\n"),
    # honest programs the sandbox must not break
    Case("honest", "def add(a, b):\n    return a + b\n", must_pass=True),
    Case("honest_with_stdlib_and_threads", "import math, re, collections, itertools, heapq, threading\n"
                                           "box = []\nt = threading.Thread(target=box.append, args=(1,))\n"
                                           "t.start(); t.join()\nprint('helper ran', box)\n"
                                           "def add(a, b):\n    return int(math.fsum([a, b])) * box[0]\n",
         must_pass=True),
]


class _Listener:
    """A local TCP port that records whether anything connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connected = False
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                self.sock.accept()[0].close()
                self.connected = True
            except OSError:
                continue

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def _processes() -> dict[str, tuple[str, str, bytes]]:
    """pid -> (parent pid, name, command line), for every process this user can see."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
                head, tail = handle.read().rsplit(")", 1)
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                found[pid] = (tail.split()[1], head.split("(", 1)[1], handle.read())
        except (OSError, IndexError):
            continue
    return found


def _leftovers(before: set[str], servers_too: bool = False) -> list[str]:
    """Sandbox directories and processes that outlived their run: a program's process (named rlkit-program,
    or any process a server forked) always counts; this process's idle servers count only after
    ``sandbox.shutdown()`` (``servers_too``)."""
    tmp = tempfile.gettempdir()
    dirs = {name for name in os.listdir(tmp) if name.startswith("rlkit-sandbox-")} - before
    found = _processes()
    sandbox_side = {pid for pid, (_, _, cmdline) in found.items() if b"sandbox_child.py" in cmdline}

    def mine(pid: str) -> bool:
        seen = set()
        while pid in found and pid not in seen:
            seen.add(pid)
            pid = found[pid][0]
            if pid == str(os.getpid()):
                return True
        return False

    procs = [pid for pid, (parent, name, _) in found.items()
             if name == "rlkit-program" or (pid in sandbox_side and parent in sandbox_side
                                             and found[parent][1] != "unshare")
             or (servers_too and pid in sandbox_side and mine(pid))]
    return sorted(dirs) + [f"process {pid} ({found[pid][1]})" for pid in procs]


def _breach(case: Case, run: sandbox.Run, seconds: float, ctx: dict) -> str | None:
    """What got through in this case, or None when it was contained."""
    problems = []
    if case.must_pass != run.passed:
        problems.append(f"passed={run.passed} ({run.status}: {run.error or run.results})")
    if seconds > SLOW_S:
        problems.append(f"took {seconds:.1f} s")
    if len(run.output) > LIMITS.output_chars:
        problems.append(f"{len(run.output)} characters of output read back")
    outside = sorted(os.listdir(ctx["outside"])) if os.path.isdir(ctx["outside"]) else "deleted"
    if outside != ["keep.txt"]:
        problems.append(f"outside directory now holds {outside}")
    if subprocess.run(["kill", "-0", str(ctx["decoy"].pid)], check=False, capture_output=True).returncode != 0:
        problems.append("the decoy process was killed")
    if ctx["listener"].connected:
        problems.append("a connection reached the local port")
    if os.environ.get(SECRET_VARIABLE, "\0") in run.output:
        problems.append("the secret appeared in the output")
    time.sleep(0.05)
    left = _leftovers(ctx["dirs_before"])
    if left:
        problems.append(f"left behind: {left}")
    return "; ".join(problems) or None


def _reset(outside: str) -> None:
    """The directory a program must not touch: exactly ``keep.txt``, whatever the previous case did."""
    if os.path.isdir(outside):
        shutil.rmtree(outside)
    os.makedirs(outside)
    with open(os.path.join(outside, "keep.txt"), "w") as handle:
        handle.write("keep me")


def run_table(names: list[str] | None = None) -> dict:
    """Run the cases (all, or ``names``) and say what got through each."""
    outside = tempfile.mkdtemp(prefix="rlkit-outside-")
    decoy = subprocess.Popen(["sleep", "600"])
    listener = _Listener()
    tmp = tempfile.gettempdir()
    ctx = {"outside": outside, "decoy": decoy, "listener": listener,
           "dirs_before": {n for n in os.listdir(tmp) if n.startswith("rlkit-sandbox-")}}
    layers = sandbox.layers("strict")
    cases, known_holes = {}, []
    try:
        for case in CASES:
            if names and case.name not in names:
                continue
            _reset(outside)
            listener.connected = False
            code = case.code.format(outside=outside, port=listener.port, decoy=decoy.pid)
            if case.name == "reads_secrets" and layers["namespaces"] != "on":
                # Without a pid namespace the user's other processes' /proc/<pid>/environ stays readable (a
                # documented hole): only the child's own, scrubbed environment is checked then.
                code = WRONG + "import os\nprint(dict(os.environ))\n"
                known_holes.append("reads_secrets: /proc/<pid>/environ of the user's processes (namespaces off)")
            start = time.perf_counter()
            run = sandbox.run(code, TESTS, limits=LIMITS, mode="strict")
            cases[case.name] = _breach(case, run, time.perf_counter() - start, ctx)
        sandbox.shutdown()
        time.sleep(0.05)
        left_after_shutdown = _leftovers(ctx["dirs_before"], servers_too=True)
    finally:
        listener.close()
        decoy.kill()
        decoy.wait()
        shutil.rmtree(outside, ignore_errors=True)
    return {"uid": os.getuid(), "layers": layers, "cases": cases, "known_holes": known_holes,
            "left_after_shutdown": left_after_shutdown}


if __name__ == "__main__":
    print(json.dumps(run_table(sys.argv[1:] or None)))
