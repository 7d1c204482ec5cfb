"""Throughput of each unit on its reference workloads (``Unit.workloads``), from its cycle model.

The cycle models equal the RTL's stall-free cycle counts (every bench asserts it), so MACs
per cycle here are what the Verilated core does on the same GEMM; they need no data.
"""
from __future__ import annotations

from sparseloom.units import unit_of


def throughput(config) -> dict:
    """Effective (dense-equivalent) and peak MACs per cycle on the unit's reference GEMMs
    (headline first)."""
    u = unit_of(config)
    runs = []
    for wl in u.workloads(config):
        cycles = u.cycles(config, wl.shape, wl.encoding)
        m, n, k = wl.shape
        macs = m * n * k if wl.macs is None else wl.macs
        runs.append({"format": wl.label, "workload": f"{u.name} {wl.label}: M={m} K={k} N={n} ({wl.description})",
                     "cycles": cycles, "effective_macs_per_cycle": macs / cycles,
                     "peak_macs_per_cycle": float(u.peak_macs_per_cycle(config, wl.encoding))})
    return {**runs[0], "workloads": runs}
