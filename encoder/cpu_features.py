"""What this CPU computes natively, read from /proc/cpuinfo (no torch, no OpenVINO: anything may import it).

bf16 pays only where the hardware has it (AVX-512 BF16, AMX): elsewhere torch and OpenVINO emulate it,
slower than f32. On a machine without /proc/cpuinfo (macOS, Windows) every check answers False.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 flags of native bf16 arithmetic


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The first processor's flags in /proc/cpuinfo (or in the `cpuinfo` text given); empty where unreadable."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """Which of the native-bf16 flags this CPU has (say why bf16 was chosen); empty without native bf16."""
    flags = cpu_flags(cpuinfo)
    return [flag for flag in BF16_FLAGS if flag in flags]


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX)."""
    return bool(cpu_bf16_flags(cpuinfo))


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name with its family and model numbers (two CPUs sold under one name can differ)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor says it all
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    if not fields:
        return platform.processor() or platform.machine() or "unknown"
    return f"{fields.get('model name', 'unknown')} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"
