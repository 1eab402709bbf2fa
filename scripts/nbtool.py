"""Maintain the lesson notebooks: convert, clean, and refresh their stored teaching outputs.

    python scripts/nbtool.py to-py notebooks/03_grpo.ipynb      # percent-format .py to edit comfortably
    python scripts/nbtool.py to-ipynb /tmp/03_grpo.py notebooks/03_grpo.ipynb  # keeps unchanged cells' outputs
    python scripts/nbtool.py refresh notebooks/03_grpo.ipynb    # run in the smoke profile, keep tagged outputs
    python scripts/nbtool.py check notebooks/*.ipynb            # fail if a notebook is not clean
    python scripts/nbtool.py store RUN.ipynb notebooks/03_grpo.ipynb  # keep a cpu run's results in the lesson
    python scripts/nbtool.py colab notebooks/*.ipynb            # (re)write the Colab badge and install cell
    python scripts/nbtool.py figures notebooks/*.ipynb          # the stored runs' README figures to docs/figures/

Cell tags: ``parameters`` (papermill injects after it) and ``nbval-ignore-output`` (a cell whose output
varies: timings, progress bars, sampled text, results; nbval does not compare it). Every other cell is a
deterministic teaching cell: its smoke-profile output is stored in git and ``pytest --nbval`` checks it.
No cell stores an execution count. The tag ``colab`` marks each lesson's Colab cell, which ``colab`` writes from
the repository named in pyproject.toml; ``readme-figure`` marks the cell whose stored figure the README shows.

A tagged cell stores no output, unless the notebook carries a **stored run**: ``store`` copies the outputs
of the tagged cells from one cpu-profile run (papermill, default parameters) into the lesson, so that a
reader sees its results before running it, and records the run in the notebook's metadata
(``rlkit.stored_run``). Progress bars are reduced to their last state, figures recompressed, and a run
whose outputs hold an absolute path is refused; ``check`` keeps each notebook under ``MAX_BYTES``.
``refresh`` and ``to-ipynb`` keep a stored run's outputs.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat

IGNORE = "nbval-ignore-output"
MAX_BYTES = 1_000_000  # a lesson with its stored run must stay small enough to open on a code host
FIGURE_WIDTH = 900  # stored figures wider than this are scaled down
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


def stored_run(nb) -> dict | None:
    """The record of the run whose outputs the tagged cells hold, or None."""
    return nb.metadata.get("rlkit", {}).get("stored_run")


def clean(nb):
    """Drop execution counts everywhere, and the outputs of ``nbval-ignore-output`` cells unless the notebook
    carries a stored run."""
    keep_tagged = stored_run(nb) is not None
    for cell in nb.cells:
        cell.pop("id", None)
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        for out in cell.get("outputs", []):
            _drop_count(out)
        if IGNORE in cell.metadata.get("tags", []) and not keep_tagged:
            cell.outputs = []
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    nb.nbformat_minor = 4
    return nb


def _drop_count(out) -> None:
    """Forget an output's execution count. nbformat's schema requires the key on an ``execute_result`` (null is
    allowed) and forbids it elsewhere: without it JupyterLab and papermill call the notebook invalid."""
    if out.get("output_type") == "execute_result":
        out["execution_count"] = None
    else:
        out.pop("execution_count", None)


def problems(nb) -> list[str]:
    found = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        found.append(f"not a valid notebook (nbformat's schema): {err.message}")
    size = len(nbformat.writes(nb).encode())
    if size > MAX_BYTES:
        found.append(f"{size:,} bytes, over {MAX_BYTES:,}: store smaller figures or fewer outputs")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.execution_count is not None:
            found.append(f"cell {i}: execution_count is set")
        if cell.outputs and IGNORE in cell.metadata.get("tags", []) and stored_run(nb) is None:
            found.append(f"cell {i}: stored output in a cell tagged '{IGNORE}' but no stored run in the metadata")
        found += [f"cell {i}: {p}" for p in _machine_paths(cell.get("outputs", []))]
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

    assigned = re.findall(r"^([A-Za-z_]\w*)\s*=", cell.source, flags=re.MULTILINE)
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
    """Run in the smoke profile (from the notebook's folder, as nbval does) and store the teaching outputs; the
    tagged cells keep the stored run's outputs, if the notebook has one."""
    import copy

    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    before = copy.deepcopy(nb)
    os.environ["RLKIT_PROFILE"] = "smoke"
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(nb_path).parent)}}).execute()
    if stored_run(before) is not None:
        for old, new in zip(before.cells, nb.cells, strict=True):
            if new.cell_type == "code" and IGNORE in new.metadata.get("tags", []):
                new.outputs = old.get("outputs", [])
    nbformat.write(clean(nb), nb_path)


# ---------------------------------------------------------------- Colab
COLAB = "colab"
FIGURE = "readme-figure"
_BADGE = re.compile(r"^\[!\[Open In Colab\]\(.*\)\]\(.*\)$", flags=re.MULTILINE)


def repository(pyproject: Path = Path(__file__).parent.parent / "pyproject.toml") -> str:
    """The kit's repository (``[project.urls] Repository`` in pyproject.toml), as ``https://github.com/OWNER/NAME``."""
    match = re.search(r'^Repository\s*=\s*"(https://github\.com/[\w.-]+/[\w.-]+?)/?"', pyproject.read_text(),
                      flags=re.MULTILINE)
    if not match:
        raise SystemExit(f"{pyproject} names no GitHub repository under [project.urls] (Repository = \"https://...\")")
    return match[1]


def colab_badge(repo: str, nb_name: str) -> str:
    path = repo.removeprefix("https://github.com/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/{nb_name})")


def colab_source(repo: str) -> str:
    """The first code cell of every lesson: on Colab, install the kit and pick the profile; elsewhere nothing."""
    return f'''# Colab only: install the kit with its GPU extras from its repository, and run the gpu profile when the runtime
# has a GPU (Runtime > Change runtime type > T4 GPU). Anywhere else this cell does nothing.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "rlkit[gpu] @ git+{repo}"],
                   check=True)
    import torch

    if torch.cuda.is_available():
        os.environ["RLKIT_PROFILE"] = "gpu"  # PROFILE = "auto" below reads it
    else:
        print("This Colab runtime has no GPU, so the lesson runs the cpu profile (the offline tiny model). "
              "For the gpu profile: Runtime > Change runtime type > T4 GPU, then run the notebook again.")'''


def add_colab(nb, nb_name: str, repo: str):
    """Put the Colab badge under the lesson's title and the Colab cell right after the title cell (replacing
    earlier ones, so that running it again changes nothing)."""
    title = nb.cells[0]
    if title.cell_type != "markdown" or not title.source.startswith("# "):
        raise SystemExit(f"{nb_name}: the first cell must be the lesson's title in markdown")
    lines = [line for line in title.source.split("\n") if not _BADGE.match(line)]
    if len(lines) > 1 and lines[1] == "" and (len(lines) < 3 or lines[2] == ""):
        del lines[1]  # the blank line a removed badge leaves
    title.source = "\n".join([lines[0], "", colab_badge(repo, nb_name), *lines[1:]]).rstrip("\n")
    nb.cells = [c for c in nb.cells if COLAB not in c.metadata.get("tags", [])]
    cell = nbformat.v4.new_code_cell(colab_source(repo))
    cell.metadata["tags"] = [COLAB]
    nb.cells.insert(1, cell)
    return nb


def readme_figure(nb, out_dir: Path, stem: str) -> Path | None:
    """Write the stored figure of the cell tagged ``readme-figure`` to ``out_dir/stem.png`` (the README shows it);
    None when the lesson has no such cell. A tagged cell without a stored figure is an error: store a run first."""
    import base64

    cells = [c for c in nb.cells if FIGURE in c.metadata.get("tags", [])]
    if not cells:
        return None
    pngs = [o["data"]["image/png"] for o in cells[0].get("outputs", []) if "image/png" in o.get("data", {})]
    if not pngs:
        raise SystemExit(f"{stem}: the cell tagged '{FIGURE}' holds no stored figure (store a cpu run first)")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.png"
    path.write_bytes(base64.b64decode(pngs[-1]))
    return path


# ---------------------------------------------------------------- a stored cpu run
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_WARNING = re.compile(r"^\S+\.py:\d+: \w*Warning: ")  # "path/to/file.py:12: FutureWarning: ..."
_SITE = re.compile(r"/\S*/site-packages/")  # where a library was installed, which its log lines may name


def _machine_paths(outputs) -> list[str]:
    """Absolute paths of this machine (home, temporary folders, the checkout) in text outputs."""
    marks = {str(Path.home()), "/tmp/", str(Path(__file__).resolve().parent.parent)}
    text = "".join(_text(o) for o in outputs)
    return [f"an absolute path of this machine ({m!r}) in its output" for m in marks if m and m in text]


def _text(out) -> str:
    if out.get("output_type") == "stream":
        return out.get("text", "")
    data = out.get("data", {})
    return "".join(data.get(k, "") for k in ("text/plain", "text/html", "text/markdown"))


def _tidy_stream(text: str) -> str:
    """Colour codes and library warnings dropped, installed libraries' folders shown as ``<site-packages>/``, and
    each line at its last state: a carriage return rewrites a line, which is how progress bars move, so only a
    bar's final state is kept."""
    lines, skip_indented = [], False
    for line in _ANSI.sub("", text).split("\n"):
        line = _SITE.sub("<site-packages>/", line.rstrip("\r").rsplit("\r", 1)[-1])
        if _WARNING.match(line):  # a library's warning and the source line it quotes: noise, and a machine path
            skip_indented = True
            continue
        if skip_indented and line.startswith("  "):
            continue
        skip_indented = False
        lines.append(line)
    return "\n".join(lines)


def _small_png(b64: str) -> str:
    """A figure scaled to at most FIGURE_WIDTH pixels wide and saved with a 256-colour palette."""
    import base64
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")
    if image.width > FIGURE_WIDTH:
        image = image.resize((FIGURE_WIDTH, round(image.height * FIGURE_WIDTH / image.width)), Image.LANCZOS)
    buffer = io.BytesIO()
    image.quantize(colors=256).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode()


def _coalesce(outputs) -> list:
    """Consecutive stream outputs of the same stream joined into one (papermill stores each progress update as
    its own output; joined, a carriage return can rewrite the line it belongs to)."""
    joined = []
    for out in outputs:
        out = nbformat.from_dict(dict(out))
        if joined and out.get("output_type") == "stream" and joined[-1].get("output_type") == "stream" \
                and joined[-1].name == out.name:
            joined[-1].text += out.text
        else:
            joined.append(out)
    return joined


def _tidy_outputs(outputs) -> list:
    kept = []
    for out in _coalesce(outputs):
        if out.get("output_type") == "stream":
            out.text = _tidy_stream(out.text)
            if not out.text.strip():
                continue
        elif out.get("output_type") in ("display_data", "execute_result"):
            data = {k: v for k, v in out.data.items() if not k.startswith("application/vnd.jupyter.widget")}
            if not data:
                continue
            if "image/png" in data:
                data["image/png"] = _small_png(data["image/png"])
            out.data = data
            _drop_count(out)
        elif out.get("output_type") == "error":
            raise SystemExit("the run stopped at an error: store only a run that finished")
        kept.append(out)
    return kept


def store(run_path: str, nb_path: str, note: str = "") -> None:
    """Copy the outputs of the tagged cells of ``run_path`` (a papermill run of the same lesson in the cpu profile,
    default parameters) into ``nb_path``, cell by cell (matched by source), and record the run."""
    import datetime

    run, nb = nbformat.read(run_path, as_version=4), nbformat.read(nb_path, as_version=4)
    injected = [c for c in run.cells if "injected-parameters" in c.metadata.get("tags", [])]
    extra = [line for c in injected for line in c.source.splitlines()
             if line.strip() and not line.startswith("#")
             and line.replace("'", '"') not in ('PROFILE = "cpu"', 'PROFILE = "auto"')]
    if extra:
        raise SystemExit(f"{run_path} ran with parameters {extra}: store a run with the default parameters "
                         "(PROFILE cpu or auto)")
    ran = {c.source: c for c in run.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get(
        "tags", [])}
    banner = "".join(_text(o) for c in run.cells for o in c.get("outputs", []))
    if "PROFILE=cpu" not in banner:
        raise SystemExit(f"{run_path} is not a cpu-profile run (its banner does not say PROFILE=cpu)")
    missing = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or IGNORE not in cell.metadata.get("tags", []):
            continue
        if cell.source not in ran:
            missing.append(i)
            continue
        cell.outputs = _tidy_outputs(ran[cell.source].get("outputs", []))
        paths = _machine_paths(cell.outputs)
        if paths:
            raise SystemExit(f"cell {i}: {paths[0]}: run the lesson from the notebooks folder with default paths")
    if missing:
        raise SystemExit(f"cells {missing} of {nb_path} are not in {run_path}: the run is of another version")
    nb.metadata.setdefault("rlkit", {})["stored_run"] = {
        "profile": "cpu", "stored": datetime.date.today().isoformat(), **({"note": note} if note else {})}
    nb = clean(nb)
    found = problems(nb)
    if found:
        raise SystemExit(f"{nb_path} would not be clean: {found}")
    nbformat.write(nb, nb_path)


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
    elif cmd == "store":
        store(args[0], args[1], " ".join(args[2:]))
    elif cmd == "colab":
        repo = repository()
        for path in args:
            nbformat.write(clean(add_colab(nbformat.read(path, as_version=4), Path(path).name, repo)), path)
    elif cmd == "figures":
        for path in args:
            written = readme_figure(nbformat.read(path, as_version=4), Path(__file__).parent.parent / "docs" / "figures",
                                    Path(path).stem)
            print(path, "->", written or "no figure")
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
