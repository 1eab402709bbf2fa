"""A local mirror of hub models and datasets, for machines without network.

Set ``RLKIT_HUB_MIRROR`` to a folder and the kit reads every hub id from there instead of the Hugging
Face Hub, through the very same loading code (``from_pretrained``, ``datasets.load_dataset``, the row
mappers of :mod:`rlkit.hub`, ``require_columns``). Air-gapped clusters need exactly this, and the kit's
gpu rehearsal uses it. The layout::

    $RLKIT_HUB_MIRROR/
        Qwen/Qwen2.5-0.5B/                  a model: what save_pretrained or snapshot_download writes
        microsoft/deberta-v3-base/
        datasets/openai/gsm8k/main/         a dataset: one folder per config ("default" when it has none)
            train.jsonl  test.jsonl         one file per split of the dataset (.jsonl, .json or .parquet)

An id the mirror lacks is an error that names the folder it expected: with the mirror set, the kit
never goes to the network behind the user's back. Local folders passed as a model still load as they
are. On a machine with network, :func:`mirror_model` and :func:`mirror_dataset` fill a mirror.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rlkit.errors import RlkitError

if TYPE_CHECKING:
    import datasets

MIRROR_ENV = "RLKIT_HUB_MIRROR"
DATASETS_FOLDER = "datasets"
NO_CONFIG = "default"
SPLIT_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def mirror_root() -> Path | None:
    """The mirror folder from ``RLKIT_HUB_MIRROR``, or None when it is unset or empty."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise RlkitError(f"{MIRROR_ENV}={value!r} is not a folder. Point it at the folder that holds the mirrored "
                         f"models and datasets (layout in rlkit/mirror.py), or unset it to use the Hugging Face Hub.")
    return root


def _is_hub_id(name: str) -> bool:
    """``owner/name`` (or a bare name) that is not a local path."""
    return not (Path(name).expanduser().exists() or name.startswith((".", "/", "~")) or name.count("/") > 1)


def model_path(model: str) -> str:
    """Where to load ``model`` from: its folder in the mirror when one is set, else ``model`` unchanged.

    Local folders are returned as they are, mirror or not.
    """
    root = mirror_root()
    if root is None or not _is_hub_id(model):
        return model
    folder = root / model
    if not (folder / "config.json").is_file():
        raise RlkitError(
            f"{MIRROR_ENV} is set ({root}) but the mirror has no model {model!r}: expected a saved model in {folder} "
            f"(config.json, weights, tokenizer files). Copy it there (on a machine with network: "
            f"rlkit.mirror.mirror_model({model!r})), pass a local folder as MODEL, or unset {MIRROR_ENV}.")
    return str(folder)


def dataset_folder(hub_id: str, config: str | None, root: Path | None = None) -> Path:
    """The mirror folder of one dataset config: ``<mirror>/datasets/<hub_id>/<config or "default">``."""
    root = root or mirror_root()
    if root is None:
        raise RlkitError(f"{MIRROR_ENV} is not set.")
    return root / DATASETS_FOLDER / hub_id / (config or NO_CONFIG)


def split_files(folder: Path) -> dict[str, Path]:
    """``{split: file}`` for the split files in ``folder`` (two formats for one split is an error)."""
    found: dict[str, Path] = {}
    for file in sorted(folder.iterdir()) if folder.is_dir() else []:
        if file.suffix in SPLIT_FORMATS:
            if file.stem in found:
                raise RlkitError(f"The mirror holds split {file.stem!r} twice in {folder}: {found[file.stem].name} "
                                 f"and {file.name}. Keep one.")
            found[file.stem] = file
    return found


def load_dataset(hub_id: str, config: str | None, split: str) -> datasets.Dataset:
    """One split of a mirrored dataset, loaded by ``datasets`` from its file."""
    import datasets

    folder = dataset_folder(hub_id, config)
    files = split_files(folder)
    if split not in files:
        have = ", ".join(sorted(files)) or "none"
        raise RlkitError(
            f"{MIRROR_ENV} is set but the mirror has no split {split!r} of {hub_id!r}"
            f"{f' (config {config!r})' if config else ''}: expected {folder}/{split}.jsonl (or .parquet); "
            f"splits there: {have}. Copy it there (on a machine with network: "
            f"rlkit.mirror.mirror_dataset({hub_id!r}, {config!r})), or unset {MIRROR_ENV}.")
    file = files[split]
    return datasets.load_dataset(SPLIT_FORMATS[file.suffix], data_files={split: str(file)}, split=split)


def _root_to_fill(root: str | Path | None) -> Path:
    """The mirror to write into: ``root``, else ``RLKIT_HUB_MIRROR``."""
    found = Path(root) if root else mirror_root()
    if found is None:
        raise RlkitError(f"Pass the mirror folder as root, or set {MIRROR_ENV}.")
    return found


def mirror_model(model: str, root: str | Path | None = None) -> Path:
    """Download ``model`` from the Hub into the mirror (needs network); returns its folder."""
    from huggingface_hub import snapshot_download

    root = _root_to_fill(root)
    folder = root / model
    snapshot_download(model, local_dir=folder)
    return folder


def mirror_dataset(hub_id: str, config: str | None = None, root: str | Path | None = None,
                   max_rows: int | None = None) -> Path:
    """Download every split of a hub dataset into the mirror as JSON lines (needs network); ``max_rows``
    keeps the first rows of each split. Returns the config's folder."""
    import datasets

    root = _root_to_fill(root)
    folder = dataset_folder(hub_id, config, root)
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in datasets.load_dataset(hub_id, config).items():
        if max_rows is not None:
            rows = rows.select(range(min(max_rows, len(rows))))
        rows.to_json(folder / f"{split}.jsonl", lines=True)
    return folder
