"""Repository-wide pytest settings: every test and notebook run is offline and in the smoke profile
unless a test says otherwise (the cpu-profile learning checks pass PROFILE explicitly)."""

import os

import pytest

os.environ.setdefault("RLKIT_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")


def _treat_stored_outputs_as_run() -> None:
    """Let nbval check the stored outputs of notebooks kept without execution counts.

    The lessons are stored clean: no execution counts, outputs only on deterministic teaching cells.
    nbval skips any cell whose execution count is None ("unrun") and errors if such a cell has
    outputs, so, in memory only, a cell with stored outputs is given a count when nbval reads it.
    Cells without stored outputs stay "unrun": nbval executes them and checks that they do not raise.
    """
    try:
        import nbval.plugin as nbval_plugin
    except ImportError:  # nbval not installed: nothing to adapt
        return
    original = nbval_plugin.IPyNbFile.collect

    def collect(self):
        for item in original(self):
            cell = getattr(item, "cell", None)
            if cell is not None and cell.get("outputs") and cell.get("execution_count") is None:
                cell.execution_count = 1
            yield item

    nbval_plugin.IPyNbFile.collect = collect


_treat_stored_outputs_as_run()



# scripts/test.sh runs the tests on two pytest-xdist workers, with ``--dist loadgroup``. A group runs on one worker,
# in order. The groups are the kit's own (xdist's ``xdist_group`` marks do not group under pytest 9.2: xdist 3.8
# renames a test by a node attribute pytest no longer reads): each test module is a group, so its module fixtures
# are made once; the notebooks nbval runs and the tests that run a lesson in the smoke profile with its default
# folders share notebooks/outputs/smoke, so they are one group; the learning checks are two groups (01 and 03's main
# job; 02, 03 on code and 04: tests/test_learning.py says why that split is sound).
SMOKE_OUTPUTS = "notebooks-smoke"
SHARES_SMOKE_OUTPUTS = {"tests/test_codetasks.py"}  # runs 03 in the smoke profile from notebooks/outputs/smoke/01_sft
LEARNING = "tests/test_learning.py"
LEARNING_FIRST = ("test_01_", "test_03_grpo_main_job")  # the checks of 01 and of 03's main job, by name prefix
# The longest groups go first, each to its own worker. xdist gives a worker another group once two of its tests are
# left: the first learning group has five tests and gets there after 01's (a few minutes), so the gpu rehearsal
# follows it on that worker while the second learning group (four tests, the longest) runs on the other.
FIRST = ["learning-01-03", "learning-02-04", "tests/test_gpu_rehearsal.py"]


def group_of(nodeid: str) -> str:
    """The group of the test ``nodeid`` (``path::name[params]``) when the tests run on several workers."""
    path, _, name = nodeid.partition("::")
    if path == LEARNING:
        return "learning-01-03" if name.startswith(LEARNING_FIRST) else "learning-02-04"
    return SMOKE_OUTPUTS if path.endswith(".ipynb") or path in SHARES_SMOKE_OUTPUTS else path


def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):  # an xdist worker: the longest groups first (every worker sorts alike)
        rank = {name: i for i, name in enumerate(FIRST)}
        items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(FIRST)))  # stable within a rank


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # no pytest-xdist: one process, no groups
    LoadScopeScheduling = None

if LoadScopeScheduling is not None:

    class GroupScheduling(LoadScopeScheduling):
        """xdist's scheduling by scope, with :func:`group_of` as the scope."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(config, log):
        return GroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None
