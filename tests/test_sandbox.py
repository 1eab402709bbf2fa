"""rlkit.sandbox: the hostile-program table (as root and as an unprivileged user), the judge, the modes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from rlkit import sandbox
from rlkit.errors import RlkitError

sys.path.insert(0, str(Path(__file__).parent))
import hostile_programs

ROOT = Path(__file__).resolve().parents[1]
LINUX = sys.platform.startswith("linux")
needs_linux = pytest.mark.skipif(not LINUX, reason="the strict sandbox needs Linux (seccomp)")
UNPRIVILEGED_UID = 65534  # nobody


def _table(command: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=300, cwd="/")
    assert done.returncode == 0, f"the table runner died (status {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def table() -> dict:
    """The whole table, run once in a child process that holds a secret in its environment."""
    env = {**os.environ, hostile_programs.SECRET_VARIABLE: "tok-" + secrets.token_hex(8),
           "PYTHONPATH": str(ROOT)}
    return _table([sys.executable, str(Path(hostile_programs.__file__))], env)


@needs_linux
@pytest.mark.parametrize("name", [case.name for case in hostile_programs.CASES])
def test_hostile_program_is_contained(table, name):
    assert table["layers"]["seccomp"] == "on", table["layers"]
    assert table["cases"][name] is None, f"{name}: {table['cases'][name]}"


@needs_linux
def test_nothing_is_left_running_after_shutdown(table):
    assert table["cases"], "no case ran"
    assert table["left_after_shutdown"] == [], table["left_after_shutdown"]


def _interpreter_for(uid: int) -> str | None:
    """An interpreter the user ``uid`` may run (the venv's own may sit under an unreadable home)."""
    candidates = ["/usr/bin/python3", shutil.which("python3") or "", os.path.realpath(sys.executable)]
    for python in dict.fromkeys(c for c in candidates if c):
        probe = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "env", "-i", python,
                                "-c", "import sys; assert sys.version_info >= (3, 10)"], check=False, capture_output=True,
                               cwd="/", timeout=30)
        if probe.returncode == 0:
            return python
    return None


@needs_linux
def test_hostile_table_as_an_unprivileged_user(tmp_path):
    """The same table run by ``nobody``, from a world-readable copy of the few files it needs."""
    if os.getuid() != 0:
        pytest.skip("already unprivileged: the table above ran as this user")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed, so the table cannot be run as another user")
    python = _interpreter_for(UNPRIVILEGED_UID)
    if python is None:
        pytest.skip(f"no Python interpreter here is readable by uid {UNPRIVILEGED_UID}")
    copy = Path(tempfile.mkdtemp(prefix="rlkit-unprivileged-"))
    try:
        (copy / "rlkit").mkdir()
        for name in ("__init__.py", "errors.py", "sandbox.py", "sandbox_child.py"):
            shutil.copy(ROOT / "rlkit" / name, copy / "rlkit" / name)
        shutil.copy(Path(hostile_programs.__file__), copy / "hostile_programs.py")
        import pyseccomp

        shutil.copy(pyseccomp.__file__, copy / "pyseccomp.py")
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(copy), "PYTHONPATH": str(copy),
               hostile_programs.SECRET_VARIABLE: "tok-" + secrets.token_hex(8)}
        result = _table(["setpriv", f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}", "--clear-groups",
                         python, str(copy / "hostile_programs.py")], env)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    assert result["uid"] == UNPRIVILEGED_UID
    assert result["layers"]["seccomp"] == "on", result["layers"]
    breaches = {name: what for name, what in result["cases"].items() if what is not None}
    assert not breaches, breaches
    assert len(result["cases"]) == len(hostile_programs.CASES)
    assert result["left_after_shutdown"] == [], result["left_after_shutdown"]


# --------------------------------------------------------------------------- judging


@pytest.mark.parametrize(
    ("ops", "values", "expected"),
    [
        (["Eq"], [["int", "3"], ["float", "3.0"]], True),
        (["Eq"], [["list", [["int", "1"]]], ["tuple", [["int", "1"]]]], "assertion failed"),  # Python: [1] != (1,)
        (["Eq"], [["set", [["int", "1"], ["int", "2"]]], ["set", [["int", "2"], ["int", "1"]]]], True),
        (["Eq"], [["dict", [[["str", "a"], ["int", "1"]]]], ["dict", [[["str", "a"], ["int", "2"]]]]],
         "assertion failed"),
        (["Eq"], [["float", "nan"], ["float", "nan"]], "assertion failed"),
        (["Lt", "Lt"], [["int", "1"], ["int", "2"], ["int", "3"]], True),
        (["In"], [["str", "b"], ["str", "abc"]], True),
        (["Is"], [["none"], ["none"]], True),
        (["Is"], [["int", "1"], ["int", "1"]], "cannot judge: 'is' compares only with None, True or False"),
        ([], [["bool", True]], True),
        ([], [["list", []]], "assertion failed"),
        (["Eq"], [["weird", 1], ["int", "1"]], "cannot judge: malformed weird value ('weird')"),
    ],
)
def test_judge_compares_rebuilt_builtin_values(ops, values, expected):
    assert sandbox.judge({"test": 0, "ops": ops, "values": values}) == expected


def test_judge_reports_errors_and_setup():
    assert sandbox.judge({"test": 0, "error": "NameError: name 'f' is not defined"}).startswith("NameError")
    assert sandbox.judge({"test": 0, "setup": True}) is True


@needs_linux
def test_run_reports_each_test_and_status():
    run = sandbox.run("def f(x):\n    return [x] * 2\nprint('hello')\n",
                      ["import math", "assert f(1) == [1, 1]", "assert f(2) == [2]", "assert g(1) == 1",
                       "assert math.isclose(len(f(0)), 2.0)"])
    assert run.status == "ok" and not run.passed
    assert run.results[:3] == [True, True, "assertion failed"]
    assert run.results[3].startswith("NameError") and run.results[4] is True
    assert run.output == "hello\n"


@needs_linux
@pytest.mark.parametrize(
    ("code", "status"),
    [("def f(:\n", "program_error"), ("raise SystemExit(0)\n", "program_error"), ("import os\nos._exit(0)\n", "killed")],
)
def test_run_statuses(code, status):
    run = sandbox.run(code, ["assert True"])
    assert run.status == status and not run.passed


@needs_linux
def test_run_many_keeps_order_and_no_tests_never_passes():
    jobs = [(f"def f():\n    return {i}\n", [f"assert f() == {i}"]) for i in range(6)] + [("x = 1\n", [])]
    runs = sandbox.run_many(jobs)
    assert [run.passed for run in runs] == [True] * 6 + [False]


def test_non_string_input_is_a_failed_run_not_an_exception(monkeypatch):
    monkeypatch.setattr(sandbox, "check", lambda mode=None: {"namespaces": "off"})
    assert sandbox.run(None, ["assert True"]).status == "program_error"  # type: ignore[arg-type]
    assert sandbox.run("x = 1", [3]).status == "program_error"  # type: ignore[list-item]


# --------------------------------------------------------------------------- modes and layers


def test_unknown_mode_says_what_to_use(monkeypatch):
    monkeypatch.setenv(sandbox.MODE_VARIABLE, "loose")
    with pytest.raises(RlkitError, match="loose.*RLKIT_SANDBOX.*strict, limits-only"):
        sandbox.resolve_mode()
    assert sandbox.resolve_mode("limits-only") == "limits-only"


def test_strict_mode_refuses_to_run_without_seccomp(monkeypatch):
    monkeypatch.setattr(sandbox, "_seccomp_state", lambda: "off: the pyseccomp package is not installed")
    with pytest.raises(RlkitError, match="seccomp off: the pyseccomp package.*RLKIT_SANDBOX=limits-only"):
        sandbox.run("x = 1", ["assert x == 1"], mode="strict")
    assert "seccomp" in sandbox.describe("strict")


@pytest.mark.parametrize(("field", "value"), [("cpu_s", 0), ("memory_mb", -1), ("wall_s", "10"), ("file_mb", True)])
def test_limits_must_be_positive_numbers(field, value):
    with pytest.raises(RlkitError, match=f"Limits.{field} must be a positive number"):
        sandbox.Limits(**{field: value})


@needs_linux
def test_limits_only_mode_is_weaker_and_says_so():
    """The opt-in mode runs honest code and keeps the limits, but lets a program write in its directory."""
    assert sandbox.layers("limits-only")["seccomp"] == "off: not used in limits-only mode"
    code = "open('note.txt', 'w').write('x')\ndef f():\n    return 1\n"
    assert sandbox.run(code, ["assert f() == 1"], mode="limits-only").passed
    assert not sandbox.run(code, ["assert f() == 1"], mode="strict").passed
    busy = sandbox.run("while True:\n    pass\n", ["assert True"], mode="limits-only",
                       limits=sandbox.Limits(cpu_s=1, wall_s=3))
    assert busy.status in ("killed", "timeout")


@needs_linux
def test_program_cannot_patch_stdlib_or_builtins_for_the_tests():
    """Module namespaces are restored before each test: a patched math.isclose or builtins.abs does not count."""
    code = ("import math, builtins\nmath.isclose = lambda *a, **k: True\nbuiltins.abs = lambda x: 0\n"
            "def f():\n    return 5.0\n")
    run = sandbox.run(code, ["import math", "assert math.isclose(f(), 1.0)", "assert abs(f() - 1.0) < 1e-9"])
    assert run.status == "ok" and run.results == [True, "assertion failed", "assertion failed"]


# --------------------------------------------------------------------------- the server that forks the children


def _server_pids() -> set[int]:
    return {server.proc.pid for idle in sandbox._SERVERS.values() for server in idle}


@pytest.fixture
def no_servers():
    """No idle server, the layers already probed (the probe runs a program in a server of its own)."""
    sandbox.check()
    sandbox.shutdown()


@needs_linux
def test_one_server_serves_many_programs_and_each_gets_a_fresh_process(no_servers):
    code = ("import os, json\nprint(json.dumps([os.getpid(), os.getcwd(), os.environ['HOME'], os.getsid(0),"
            " sorted(os.listdir('.'))]))\n")
    first, second = (sandbox.run(code, ["assert True"]) for _ in range(2))
    assert len(_server_pids()) == 1, "the same server should answer both"
    (pid1, cwd1, home1, sid1, files1), (pid2, cwd2, home2, sid2, files2) = (json.loads(r.output) for r in (first, second))
    assert pid1 != pid2 and cwd1 != cwd2, "each program needs its own process and directory"
    assert home1 == cwd1 and home2 == cwd2 and sid1 == pid1 and sid2 == pid2  # own session, HOME = its directory
    assert files1 == files2 == [".output", ".results"]
    assert not os.path.exists(cwd1) and not os.path.exists(cwd2)


@needs_linux
def test_a_program_cannot_reach_the_servers_descriptors():
    """Only stdout, stderr and the results file are open in the child: the server's pipes are closed."""
    code = ("import os\nopen_fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n"
            "def fds():\n    return open_fds\n")
    run = sandbox.run(code, ["assert fds() == [0, 1, 2, 3]"])  # stdin is closed: 0 is the listdir's own
    assert run.passed, run
    assert sandbox.run("def f():\n    return 1\n", ["assert f() == 1"]).passed  # the server still answers


@needs_linux
def test_a_dead_server_costs_one_run_then_a_new_one_starts(no_servers):
    assert sandbox.run("x = 1\n", ["assert x == 1"]).passed
    (server,) = [s for idle in sandbox._SERVERS.values() for s in idle]
    os.killpg(server.proc.pid, 9)
    server.proc.wait()
    run = sandbox.run("x = 1\n", ["assert x == 1"])  # the dead server is noticed before the job is sent
    assert run.passed, run
    assert server.proc.pid not in _server_pids()


@needs_linux
def test_a_server_that_stops_mid_job_gives_a_killed_run_not_an_exception(no_servers):
    assert sandbox.run("x = 1\n", ["assert x == 1"]).passed
    (server,) = [s for idle in sandbox._SERVERS.values() for s in idle]
    import threading
    import time

    threading.Timer(0.5, lambda: os.killpg(server.proc.pid, 9)).start()
    run = sandbox.run("import time\ntime.sleep(30)\n", ["assert True"], limits=sandbox.Limits(wall_s=20))
    assert run.status == "killed" and "server" in run.error, run
    time.sleep(0.05)
    assert hostile_programs._leftovers(set()) == []  # the program went with its server
    assert sandbox.run("x = 1\n", ["assert x == 1"]).passed


@needs_linux
def test_an_idle_server_leaves_by_itself(tmp_path):
    server = subprocess.Popen([sys.executable, "-I", "-B", str(ROOT / "rlkit" / "sandbox_child.py"), "--serve", "0.2"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=tmp_path)
    assert server.wait(timeout=30) == 0
    server.stdin.close()
    server.stdout.close()


@needs_linux
def test_a_forked_copy_of_the_kit_starts_its_own_servers(monkeypatch):
    assert sandbox.run("x = 1\n", ["assert x == 1"]).passed
    before = _server_pids()
    monkeypatch.setattr(sandbox, "_SERVERS_PID", -1)  # as if this were a child forked from the process
    assert sandbox.run("x = 1\n", ["assert x == 1"]).passed
    assert before and not (before & _server_pids())


@needs_linux
def test_a_child_that_cannot_set_up_is_refused_and_a_program_exiting_70_is_not(monkeypatch):
    """A set-up failure (here: its results file gone) is 'refused'; a program can never make its run look like one."""
    assert sandbox.run("import os\nos._exit(70)\n", ["assert True"]).status == "killed"
    real = sandbox._Server.execute

    def without_results_file(self, job, wall_s):
        os.remove(os.path.join(job["workdir"], ".results"))
        return real(self, job, wall_s)

    monkeypatch.setattr(sandbox._Server, "execute", without_results_file)
    run = sandbox.run("x = 1\n", ["assert x == 1"])
    assert run.status == "refused" and "could not set up" in run.error, run
