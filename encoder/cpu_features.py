"""What this CPU can do, read from /proc/cpuinfo (Linux): its model name and whether it has native bf16.

Native bf16 (AVX-512 BF16 or AMX) is what makes bf16 inference and training pay; without it OpenVINO quietly
runs f32 and torch emulates bf16 slower than f32.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: nothing known
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor says it all
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where unknown)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_model() -> str:
    """The CPU's model name with its family and model numbers (two CPUs sold under one name can differ)."""
    info = _cpuinfo()
    if not info:
        return platform.processor() or platform.machine() or "unknown"
    return f"{info.get('model name', 'unknown')} (family {info.get('cpu family', '?')}, model {info.get('model', '?')})"


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX)."""
    return any(flag in cpu_flags() for flag in BF16_FLAGS)
