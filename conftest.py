"""Repository-wide pytest settings: every test and notebook run is offline and in the smoke profile
unless a test says otherwise (the cpu-profile learning checks pass PROFILE explicitly)."""

import os

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
