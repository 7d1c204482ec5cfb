"""Simulator-side cocotb benches of every unit (``<unit>_tb``) and the checks they share.

Installed as ``sparseloom.testbenches``: each unit record names its bench module here, and
``cocotb_tests/test_benches.py`` runs every test of it on the record's configurations.
"""
