"""Simulation drivers: host-side stream plans and the cocotb engine that plays them."""
