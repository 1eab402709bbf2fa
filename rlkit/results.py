"""Record each notebook run's headline metric, and collect all runs in one table.

Each run writes ``<output_dir>/metrics.json`` and appends the same row to
``<output_dir>/../results.jsonl``, a table shared by every notebook whose output folders
sit side by side (e.g. ``outputs/grpo_countdown/`` and ``outputs/dpo_helpsteer/`` both
append to ``outputs/results.jsonl``).

Example:
    >>> write_metrics("outputs/grpo_countdown", notebook="grpo_countdown", profile="tiny",  # doctest: +SKIP
    ...               model="Qwen/Qwen2.5-0.5B-Instruct", metric="accuracy",
    ...               before=0.12, after=0.31, n_eval=200, seconds=512.3)
    >>> results_table(read_results("outputs/results.jsonl"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from numbers import Real
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"
COLUMNS = [
    "notebook", "profile", "method", "model", "metric", "before", "after", "delta",
    "n_eval", "steps", "seed", "seconds", "timestamp",
]  # fmt: skip


def results_path(output_dir: str | Path) -> Path:
    """The shared results table for a run folder: its parent folder / ``results.jsonl``.

    Example:
        >>> results_path("outputs/grpo_countdown") == Path.cwd() / "outputs" / "results.jsonl"
        True
    """
    return Path(output_dir).absolute().parent / RESULTS_FILE


def _require_real(name: str, value: Any) -> float:
    """``value`` as a float; ValueError unless it is a finite real number (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def _require_text(name: str, value: Any) -> str:
    """``value`` itself; ValueError unless it is a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _require_int(name: str, value: Any, *, optional: bool = False, minimum: int = 0) -> int | None:
    """``value`` itself; ValueError unless it is an int >= minimum (or None when optional)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _merge_extra(row: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Add ``extra`` fields to the row; they must be JSON-serialisable and must not shadow a standard column."""
    extra = dict(extra or {})
    clashes = sorted(set(extra) & set(row))
    if clashes:
        raise ValueError(f"extra must not redefine standard fields: {clashes}")
    try:
        json.dumps(extra)
    except TypeError as err:
        raise ValueError(f"extra must be JSON-serialisable: {err}") from None
    return {**row, **extra}


def write_metrics(
    output_dir: str | Path,
    *,
    notebook: str,
    profile: str,
    model: str,
    metric: str,
    before: float,
    after: float,
    n_eval: int,
    seconds: float,
    method: str | None = None,
    steps: int | None = None,
    seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
    metrics_file: bool = True,
) -> dict[str, Any]:
    """Write ``output_dir/metrics.json`` and append the same row to the shared ``results.jsonl``.

    ``metrics_file=False`` only appends the row (a study notebook adds one row per arm, then writes its
    ``metrics.json`` once).

    ``delta`` (after - before) and a UTC ``timestamp`` are added; ``extra`` adds more
    fields (e.g. ``{"pass@8": 0.6}``). Returns the row.

    Example (in a temporary folder):
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> row = write_metrics(f"{folder}/sft_gsm8k", notebook="sft_gsm8k", profile="cpu",
        ...                     model="Qwen/Qwen2.5-0.5B-Instruct", metric="accuracy", before=0.20,
        ...                     after=0.27, n_eval=100, seconds=301.0, method="SFT", steps=50)
        >>> row["delta"], Path(folder, "results.jsonl").exists(), Path(folder, "sft_gsm8k", "metrics.json").exists()
        (0.07, True, True)
    """
    before, after = _require_real("before", before), _require_real("after", after)
    row = {
        "notebook": _require_text("notebook", notebook),
        "profile": _require_text("profile", profile),
        "method": None if method is None else _require_text("method", method),
        "model": _require_text("model", model),
        "metric": _require_text("metric", metric),
        "before": before,
        "after": after,
        "delta": round(after - before, 10),
        "n_eval": _require_int("n_eval", n_eval, minimum=1),
        "steps": _require_int("steps", steps, optional=True),
        "seed": _require_int("seed", seed, optional=True),
        "seconds": _require_real("seconds", seconds),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    row = _merge_extra(row, extra)
    _write_files(Path(output_dir), row, metrics_file)
    return row


def add_to_metrics(output_dir: str | Path, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into ``output_dir/metrics.json`` written earlier in the run (a later section's numbers),
    leaving the results table alone; returns the updated row. New fields only: a standard column or a field
    already there is refused, so nothing the table recorded is contradicted."""
    path = Path(output_dir) / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: write_metrics must run first.")
    row = json.loads(path.read_text(encoding="utf-8"))
    row = _merge_extra(row, extra)
    path.write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    return row


def _write_files(output_dir: Path, row: Mapping[str, Any], metrics_file: bool = True) -> None:
    """Create the folder, write ``metrics.json`` (pretty) and append one line to the results table."""
    output_dir.mkdir(parents=True, exist_ok=True)
    if metrics_file:
        (output_dir / "metrics.json").write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    with results_path(output_dir).open("a", encoding="utf-8") as table:
        table.write(json.dumps(row) + "\n")


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a ``results.jsonl`` file (or of ``<folder>/results.jsonl``), oldest first.

    A missing file means nothing has been recorded yet and gives ``[]``.

    Example:
        >>> rows = read_results("outputs/results.jsonl")  # doctest: +SKIP
        >>> rows[-1]["notebook"], rows[-1]["delta"]  # doctest: +SKIP
        ('grpo_countdown', 0.19)
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
    return rows


def results_table(rows: list[Mapping[str, Any]], *, latest_only: bool = True) -> Any:
    """A pandas DataFrame of result rows, sorted by notebook and profile.

    With ``latest_only`` (default) only the newest row per (notebook, profile, method) is kept, so
    re-running a notebook replaces its earlier result in the table (a study's arms are methods).

    Example:
        >>> results_table(read_results("outputs"))[["notebook", "profile", "before", "after", "delta"]]  # doctest: +SKIP
    """
    import pandas as pd

    table = pd.DataFrame(list(rows))
    extra_columns = [c for c in table.columns if c not in COLUMNS]
    table = table.reindex(columns=COLUMNS + extra_columns)
    if latest_only and len(table):
        table = table.sort_values("timestamp", kind="stable", na_position="first")
        table = table.drop_duplicates(["notebook", "profile", "method"], keep="last")
    return table.sort_values(["notebook", "profile"], kind="stable").reset_index(drop=True)
