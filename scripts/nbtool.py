"""Maintain the lesson notebooks: convert, clean, and refresh their stored teaching outputs.

    python scripts/nbtool.py to-py notebooks/03_grpo.ipynb      # percent-format .py to edit comfortably
    python scripts/nbtool.py to-ipynb /tmp/03_grpo.py notebooks/03_grpo.ipynb  # keeps unchanged cells' outputs
    python scripts/nbtool.py refresh notebooks/03_grpo.ipynb    # run in the smoke profile, keep tagged outputs
    python scripts/nbtool.py check notebooks/*.ipynb            # fail if a notebook is not clean

Cell tags: ``parameters`` (papermill injects after it) and ``nbval-ignore-output`` (a cell whose output
varies: timings, progress bars, sampled text; it is stored without outputs and nbval does not compare
it). Every other cell is a deterministic teaching cell: its smoke-profile output is stored in git and
``pytest --nbval`` checks it. No cell stores an execution count.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat

IGNORE = "nbval-ignore-output"
_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def to_py(nb_path: str) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    parts = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        header = "# %%" + (" [markdown]" if cell.cell_type == "markdown" else "")
        header += f" tags={json.dumps(tags)}" if tags else ""
        body = cell.source if cell.cell_type == "code" else "\n".join(
            ("# " + line).rstrip() for line in cell.source.splitlines())
        parts.append(f"{header}\n{body}\n")
    return "\n".join(parts)


def from_py(text: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    cell = None
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            cell = (nbformat.v4.new_markdown_cell if match["md"] else nbformat.v4.new_code_cell)("")
            if match["tags"]:
                cell.metadata["tags"] = json.loads(match["tags"])
            nb.cells.append(cell)
            continue
        if cell is not None:
            if cell.cell_type == "markdown":
                line = line[2:] if line.startswith("# ") else line.lstrip("#")
            cell.source += line + "\n"
    for c in nb.cells:
        c.source = c.source.strip("\n")
        c.pop("id", None)
    return nb


def clean(nb):
    """Drop execution counts everywhere and the outputs of ``nbval-ignore-output`` cells."""
    for cell in nb.cells:
        cell.pop("id", None)
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        for out in cell.get("outputs", []):
            out.pop("execution_count", None)
        if IGNORE in cell.metadata.get("tags", []):
            cell.outputs = []
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    nb.nbformat_minor = 4
    return nb


def problems(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.execution_count is not None:
            found.append(f"cell {i}: execution_count is set")
        if cell.outputs and IGNORE in cell.metadata.get("tags", []):
            found.append(f"cell {i}: stored output in a cell tagged '{IGNORE}'")
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            found.append(f"cell {i}: a stored error")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not tagged:
        found.append("no cell tagged 'parameters'")
    for cell in tagged:
        found += unparsed_parameters(cell)
    return found


def unparsed_parameters(cell) -> list[str]:
    """Assignments in the parameters cell that papermill cannot read (it skips a line with a second '=',
    so ``-p NAME value`` then warns "unknown parameter" and ``papermill --help-notebook`` omits it)."""
    from papermill.translators import PythonTranslator

    assigned = re.findall(r"^([A-Za-z_]\w*)\s*=", cell.source, flags=re.M)
    seen = {p.name for p in PythonTranslator.inspect(cell)}
    return [f"parameter {name}: papermill cannot parse its line (write its comment without '=')"
            for name in assigned if name not in seen]


def keep_outputs(old, new) -> None:
    """Give each code cell of ``new`` the stored outputs of the cell of ``old`` with the same source, so that
    editing text does not drop them. A changed code cell gets none: run ``refresh`` after changing code (an
    unchanged cell below a changed one keeps its outputs, and nbval tells if they no longer hold)."""
    stored = {c.source: c.get("outputs", []) for c in old.cells if c.cell_type == "code"}
    for cell in new.cells:
        if cell.cell_type == "code" and cell.source in stored:
            cell.outputs = stored[cell.source]


def refresh(nb_path: str) -> None:
    """Run in the smoke profile (from the notebook's folder, as nbval does) and store the teaching outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    os.environ["RLKIT_PROFILE"] = "smoke"
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(nb_path).parent)}}).execute()
    nbformat.write(clean(nb), nb_path)


def main(argv: list[str]) -> int:
    cmd, *args = argv
    if cmd == "to-py":
        sys.stdout.write(to_py(args[0]))
    elif cmd == "to-ipynb":
        nb = from_py(Path(args[0]).read_text())
        if Path(args[1]).exists():
            keep_outputs(nbformat.read(args[1], as_version=4), nb)
        nbformat.write(clean(nb), args[1])
    elif cmd == "refresh":
        for path in args:
            refresh(path)
    elif cmd == "clean":
        for path in args:
            nbformat.write(clean(nbformat.read(path, as_version=4)), path)
    elif cmd == "check":
        bad = {p: problems(nbformat.read(p, as_version=4)) for p in args}
        bad = {p: v for p, v in bad.items() if v}
        for path, found in bad.items():
            print(path, *found, sep="\n  ")
        return 1 if bad else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
