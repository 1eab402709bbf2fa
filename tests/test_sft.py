"""The SFT warm start: one recipe, two code paths (01_sft's notebook and the in-place build of 02-04), one model."""

from pathlib import Path

import pytest

from rlkit import modeling, sft

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_sft_mix_covers_every_family_with_both_styles():
    rows = sft.sft_mix("arithmetic", 80, seed=0)
    questions = [r["prompt"][-1]["content"] for r in rows]
    assert any("knights and knaves" in q for q in questions) and any("houses" in q for q in questions)
    assert any("create an equation" in q for q in questions) and any("arithmetic problem" in q for q in questions)
    arithmetic = [r["completion"][0]["content"] for r in rows if "arithmetic problem" in r["prompt"][-1]["content"]]
    worked = [c for c in arithmetic if c.split("</think>")[0].count("\n") >= 1]
    assert 0 < len(worked) < len(arithmetic)  # both kinds of demonstration are there


def test_worked_fraction_is_checked():
    from rlkit.errors import RlkitError

    with pytest.raises(RlkitError, match="WORKED_FRACTION=1.5"):
        sft.sft_mix("arithmetic", 8, seed=0, worked_fraction=1.5)


def test_notebook_and_in_place_build_give_identical_weights(tmp_path):
    """01_sft run headless and sft.ensure_sft_model, same profile and seed: bit-identical merged weights."""
    import papermill

    papermill.execute_notebook(str(NOTEBOOKS / "01_sft.ipynb"), str(tmp_path / "01.out.ipynb"),
                               parameters={"PROFILE": "smoke", "OUTPUT_DIR": str(tmp_path / "nb" / "01_sft")},
                               cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    in_place = sft.ensure_sft_model(str(tmp_path / "in_place" / "01_sft"), "smoke", seed=0)
    assert modeling.weights_hash(tmp_path / "nb" / "01_sft" / "model") == modeling.weights_hash(in_place)
