"""This machine in a few words (host, accelerators or CPUs): stored with a sweep and with every node
that ran its trials."""

from __future__ import annotations

import os
import platform


def hardware() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def describe() -> str:
    return f"{platform.node()}: {hardware()}"
