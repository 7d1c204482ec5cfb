"""Analytical cost model: workloads, architectures and mappings in, access counts, cycles and energy out."""
