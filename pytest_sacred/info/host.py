"""Host information: what machine and interpreter a run used."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree


def cpu_name() -> str | None:
    """The CPU's brand string.

    On Linux ``/proc/cpuinfo`` answers in microseconds; elsewhere py-cpuinfo does the work
    (about a second, once per session).
    """
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
    try:
        import cpuinfo

        brand: str | None = cpuinfo.get_cpu_info().get("brand_raw")
        return brand
    except Exception:
        return None


def gpu_info() -> dict[str, Any] | None:
    """GPUs as ``nvidia-smi -q -x`` reports them; ``None`` when there is no nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        xml = subprocess.run([exe, "-q", "-x"], capture_output=True, timeout=20, check=True).stdout
        root = ElementTree.fromstring(xml)
    except (OSError, subprocess.SubprocessError, ElementTree.ParseError):
        return None
    gpus = []
    for gpu in root.findall("gpu"):
        total = (gpu.findtext("fb_memory_usage/total") or "0").split()[0]
        gpus.append({
            "model": gpu.findtext("product_name"),
            "total_memory": int(total) if total.isdigit() else None,
            "persistence_mode": gpu.findtext("persistence_mode") == "Enabled",
        })
    return {"gpus": gpus, "driver_version": root.findtext("driver_version")}


def host_info(capture_env: Sequence[str] = ()) -> dict[str, Any]:
    """Sacred's ``host_info`` keys, plus ``python_compiler``."""
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "os": [platform.system(), platform.platform()],
        "python_version": platform.python_version(),
        "python_compiler": platform.python_compiler(),
        "cpu": cpu_name(),
    }
    gpus = gpu_info()
    if gpus is not None:
        info["gpus"] = gpus
    info["ENV"] = {name: os.environ[name] for name in capture_env if name in os.environ}
    return info
