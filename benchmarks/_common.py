"""Shared by the benchmarks: the machine's name, peak memory, and the markdown row every benchmark prints."""

from __future__ import annotations

import platform
import resource


def machine() -> str:
    """The device a number came from: the GPU's name, or the CPU's model, core count and vector extensions."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    model, flags = platform.processor() or "cpu", ""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        model = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = "AVX-512" if "avx512f" in info else "no AVX-512"
    except (OSError, StopIteration):
        pass
    return f"{model}, {torch.get_num_threads()} threads, {flags}".strip(", ")


def peak_memory_gb() -> float:
    """Peak memory since :func:`reset_peak`: CUDA allocations on a GPU, else the process's peak resident set
    (Linux's VmHWM, which :func:`reset_peak` resets; elsewhere the peak since the process started)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 2**20  # kB
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux KiB, macOS bytes: rough


def reset_peak() -> None:
    """Start a new peak: CUDA's counters, or on Linux the process's peak resident set (``clear_refs`` 5)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def row(cells: list) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
