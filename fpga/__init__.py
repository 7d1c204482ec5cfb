"""FPGA synthesis flow: Yosys + nextpnr (PyPI yowasp builds) on a harnessed core, area and Fmax reports."""
