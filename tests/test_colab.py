"""Colab: every lesson carries a badge that opens itself and a first cell that, on Colab only, installs the kit
from the repository named in pyproject.toml and picks the gpu profile when the runtime has a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from script_helpers import load_script

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

nbtool = load_script("nbtool")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_lesson_has_its_badge_and_the_colab_cell_first(path):
    nb = nbformat.read(path, as_version=4)
    repo = nbtool.repository()
    title = nb.cells[0].source.split("\n")
    assert title[0].startswith("# ") and title[2] == nbtool.colab_badge(repo, path.name)
    assert f"/notebooks/{path.name})" in title[2]  # the badge opens this lesson, not another
    colab = [i for i, c in enumerate(nb.cells) if nbtool.COLAB in c.metadata.get("tags", [])]
    assert colab == [1], "one Colab cell, before everything else: run `python scripts/nbtool.py colab`"
    assert nb.cells[1].source == nbtool.colab_source(repo)
    assert nb.cells[1].outputs == []  # off Colab it prints nothing, so nbval compares an empty output


def test_adding_the_colab_parts_twice_changes_nothing():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    before = nbformat.writes(nb)
    once = nbformat.writes(nbtool.clean(nbtool.add_colab(nb, NOTEBOOKS[0].name, nbtool.repository())))
    assert once == before  # the lesson in git is already up to date


def _run_cell(monkeypatch, *, on_colab: bool, gpu: bool):
    calls = []
    monkeypatch.setenv("RLKIT_PROFILE", "")  # recorded first, so that the profile the cell sets is undone too
    monkeypatch.delenv("RLKIT_PROFILE")
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append((cmd, check)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    exec(compile(nbtool.colab_source(nbtool.repository()), "colab-cell", "exec"), {})  # noqa: S102 (our own cell)
    return calls, os.environ.get("RLKIT_PROFILE")


def test_on_colab_with_a_gpu_the_cell_installs_the_kit_with_its_gpu_extras_and_picks_the_gpu_profile(monkeypatch):
    calls, profile = _run_cell(monkeypatch, on_colab=True, gpu=True)
    assert profile == "gpu"
    [(cmd, check)] = calls
    assert check is True and cmd[:4] == [sys.executable, "-m", "pip", "install"]
    requirement = Requirement(cmd[-1])
    assert requirement.name == "rlkit" and requirement.extras == {"gpu"}
    assert requirement.url == "git+" + nbtool.repository()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "\ngpu = " in pyproject.split("[project.optional-dependencies]")[1]  # the extra exists

    from rlkit import config

    assert config.resolve_profile("auto", cuda_available=True)[0] == "gpu"


def test_on_colab_without_a_gpu_the_cell_says_how_to_get_one_and_leaves_the_profile_to_auto(monkeypatch, capsys):
    calls, profile = _run_cell(monkeypatch, on_colab=True, gpu=False)
    assert len(calls) == 1 and profile is None
    assert "Change runtime type > T4 GPU" in capsys.readouterr().out


def test_anywhere_else_the_cell_does_nothing(monkeypatch, capsys):
    calls, profile = _run_cell(monkeypatch, on_colab=False, gpu=True)
    assert calls == [] and profile is None and capsys.readouterr().out == ""


def test_the_profile_the_cell_set_does_not_leak_into_later_tests():
    assert os.environ.get("RLKIT_PROFILE") != "gpu"
