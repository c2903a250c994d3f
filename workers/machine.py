"""This machine in a few words (host, accelerators or CPUs): stored with a sweep and with every node
that ran its trials."""

from __future__ import annotations

import os
import platform
import sys

GPU_DRIVERS = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/kfd")  # NVIDIA's driver, ROCm's


def hardware() -> str:
    """Asks torch only where it is loaded already or a GPU driver is present: a CPU machine's driver
    process (the sweep's) would import torch for nothing (seconds)."""
    if "torch" not in sys.modules and not any(os.path.exists(p) for p in GPU_DRIVERS):
        return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def describe() -> str:
    return f"{platform.node()}: {hardware()}"
