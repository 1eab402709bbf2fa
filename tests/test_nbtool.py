"""scripts/nbtool.py: a stored cpu run enters a lesson tidy, small and free of machine paths, and survives
refresh; notebooks without one stay clean."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import nbformat
import pytest
from script_helpers import load_script

nbtool = load_script("nbtool")

IGNORE = ["nbval-ignore-output"]


def _png(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _lesson():
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "auto"\nSEED = 0')
    params.metadata["tags"] = ["parameters"]
    teach = nbformat.v4.new_code_cell("print(2 + 2)")
    teach.outputs = [nbformat.v4.new_output("stream", name="stdout", text="4\n")]
    run = nbformat.v4.new_code_cell("train_and_plot()")
    run.metadata["tags"] = IGNORE
    nb.cells = [nbformat.v4.new_markdown_cell("# a lesson"), params, teach, run]
    return nb


def _run(*, params='PROFILE = "cpu"\n', text="steps 10\n", error=False, source="train_and_plot()"):
    nb = _lesson()
    injected = nbformat.v4.new_code_cell(params)
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(2, injected)
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="rlkit · PROFILE=cpu\n4\n")]
    cell = nb.cells[4]
    cell.source = source
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=(
            "\x1b[32mtraining\x1b[0m\n\r  0%|          | 0/10\r100%|##########| 10/10 [00:01<00:00]\n"
            f"{Path.home()}/venv/lib/site-packages/x.py:12: FutureWarning: old\n  warnings.warn(\nafter\n")),
        nbformat.v4.new_output("stream", name="stdout", text=text),
        nbformat.v4.new_output("stream", name="stdout", text="\rLoading:   0%| | 0/5"),  # papermill: one per update
        nbformat.v4.new_output("stream", name="stdout", text="\rLoading: 100%|#| 5/5\n"),
        nbformat.v4.new_output("display_data", data={"image/png": _png(1800, 600), "text/plain": "<Figure>"}),
    ]
    if error:
        cell.outputs.append(nbformat.v4.new_output("error", ename="AssertionError", evalue="no", traceback=[]))
    return nb


def _paths(tmp_path, run):
    lesson, ran = tmp_path / "lesson.ipynb", tmp_path / "run.ipynb"
    nbformat.write(_lesson(), lesson)
    nbformat.write(run, ran)
    return str(ran), str(lesson)


def test_store_keeps_a_tidy_small_run_and_records_it(tmp_path):
    from PIL import Image

    ran, lesson = _paths(tmp_path, _run())
    nbtool.store(ran, lesson, "seed 0")
    nb = nbformat.read(lesson, as_version=4)
    assert nbtool.stored_run(nb)["profile"] == "cpu" and nbtool.stored_run(nb)["note"] == "seed 0"
    assert nb.cells[2].outputs[0]["text"] == "4\n"  # the teaching cell keeps its smoke output
    stderr, stdout, figure = nb.cells[3].outputs
    assert stderr["text"] == "training\n100%|##########| 10/10 [00:01<00:00]\nafter\n"  # last bar state, no warning
    assert stdout["text"] == "steps 10\nLoading: 100%|#| 5/5\n"  # the updates joined, the last one kept
    image = Image.open(io.BytesIO(base64.b64decode(figure["data"]["image/png"])))
    assert image.size == (nbtool.FIGURE_WIDTH, 300)
    assert nbtool.problems(nb) == []
    nbformat.write(nbtool.clean(nb), lesson)  # clean (as to-ipynb and refresh call it) keeps the stored run
    assert nbformat.read(lesson, as_version=4).cells[3].outputs


def test_a_stored_cell_value_keeps_the_notebook_valid(tmp_path):
    """A tagged cell whose last line is a value (01's figure is one) stores an ``execute_result``, whose execution
    count nbformat's schema requires (null allowed): the stored lessons once lacked it, and JupyterLab and
    papermill called them invalid. ``problems`` (nbtool check) now reports a notebook the schema refuses."""
    run = _run()
    run.cells[4].outputs.append(nbformat.v4.new_output(
        "execute_result", data={"text/plain": "<Figure size 1260x560>"}, execution_count=7))
    ran, lesson = _paths(tmp_path, run)
    nbtool.store(ran, lesson)
    nb = nbformat.read(lesson, as_version=4)
    value = nb.cells[3].outputs[-1]
    assert value["output_type"] == "execute_result" and value["execution_count"] is None
    nbformat.validate(nb)
    assert nbtool.problems(nb) == []
    nbformat.validate(nbtool.clean(nb))
    del value["execution_count"]
    assert any("schema" in p for p in nbtool.problems(nb))


@pytest.mark.parametrize(("run", "says"), [
    (dict(params='PROFILE = "cpu"\nSEED = 1\n'), "default"),
    (dict(params='PROFILE = "smoke"\n'), "parameters"),
    (dict(text="saved to /tmp/outputs/model\n"), "absolute path"),
    (dict(error=True), "error"),
    (dict(source="train_and_plot(steps=5)"), "another version"),
])
def test_store_refuses_a_run_that_is_not_the_lessons(tmp_path, run, says):
    ran, lesson = _paths(tmp_path, _run(**run))
    with pytest.raises(SystemExit, match=says):
        nbtool.store(ran, lesson)
    assert nbtool.stored_run(nbformat.read(lesson, as_version=4)) is None  # the lesson is left as it was


def test_without_a_stored_run_tagged_outputs_are_dropped_and_flagged():
    nb = _lesson()
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="sampled text\n")]
    assert any("no stored run" in p for p in nbtool.problems(nb))
    assert nbtool.clean(nb).cells[3].outputs == []


def test_a_notebook_over_the_size_limit_is_flagged(monkeypatch):
    nb = _lesson()
    monkeypatch.setattr(nbtool, "MAX_BYTES", 500)
    assert any("bytes, over" in p for p in nbtool.problems(nb))


def test_refresh_keeps_the_stored_run(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("PROFILE = 'auto'")
    params.metadata["tags"] = ["parameters"]
    teach = nbformat.v4.new_code_cell("print(6 * 7)")
    result = nbformat.v4.new_code_cell("print('smoke result')")
    result.metadata["tags"] = IGNORE
    result.outputs = [nbformat.v4.new_output("stream", name="stdout", text="cpu result\n")]
    nb.cells = [params, teach, result]
    nb.metadata["rlkit"] = {"stored_run": {"profile": "cpu", "stored": "2026-12-04"}}
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    monkeypatch.setenv("RLKIT_PROFILE", "smoke")
    nbtool.refresh(str(path))
    done = nbformat.read(path, as_version=4)
    assert done.cells[1].outputs[0]["text"] == "42\n"  # the teaching cell ran
    assert done.cells[2].outputs[0]["text"] == "cpu result\n"  # the stored run's output stayed


def test_the_readme_figure_is_the_stored_figure_of_its_tagged_cell(tmp_path):
    from PIL import Image

    ran, lesson = _paths(tmp_path, _run())
    nbtool.store(ran, lesson)
    nb = nbformat.read(lesson, as_version=4)
    assert nbtool.readme_figure(nb, tmp_path / "figures", "lesson") is None  # no cell tagged: no figure
    nb.cells[3].metadata["tags"].append(nbtool.FIGURE)
    written = nbtool.readme_figure(nb, tmp_path / "figures", "lesson")
    assert written == tmp_path / "figures" / "lesson.png"
    assert Image.open(written).size == (nbtool.FIGURE_WIDTH, 300)  # the stored (scaled) figure
    bare = _lesson()
    bare.cells[3].metadata["tags"].append(nbtool.FIGURE)
    with pytest.raises(SystemExit, match="no stored figure"):
        nbtool.readme_figure(bare, tmp_path / "figures", "lesson")


def test_a_library_log_line_keeps_its_message_without_the_folder_the_library_is_installed_in():
    text = f"\x1b[1mModel LOAD REPORT\x1b[0m from: {Path.home()}/venv/lib/python3.11/site-packages/pkg/model\nok\n"
    tidy = nbtool._tidy_stream(text)
    assert tidy == "Model LOAD REPORT from: <site-packages>/pkg/model\nok\n"
    assert nbtool._machine_paths([nbformat.v4.new_output("stream", name="stderr", text=tidy)]) == []
