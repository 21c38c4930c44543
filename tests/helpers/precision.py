"""How close two runs of the same model must agree, given the precision its networks compute in.

In f32 a batch of faces gives each face the vector it gets alone, to float rounding. In bf16 (OpenVINO on a CPU with
AVX-512 BF16 or AMX, where `auto` may choose it) each layer's output is rounded to 8 bits of mantissa, and which way a
value rounds can depend on the kernel the batch's shape was compiled with: vectors then agree to about 1e-3.
"""

from __future__ import annotations


def vector_tolerance(model) -> float:
    """Largest difference allowed between a model's vectors of the same face in two runs (batched or alone)."""
    return 2e-2 if any(value.endswith(":bf16") for value in model.runtimes().values()) else 1e-5
