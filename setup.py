"""Package layout: each top-level folder installs as a sub-package of ``sparseloom``.

Everything else about the project is in pyproject.toml; this file only finds the packages
below each folder, so a new generator package (``gen/<unit>/``) installs with nothing to list.
"""
from setuptools import find_packages, setup

#: import package -> the folder that holds it
FOLDERS = {"sparseloom": "sparseloom", "sparseloom.gen": "gen", "sparseloom.golden": "golden",
           "sparseloom.fpga": "fpga", "sparseloom.model": "model",
           "sparseloom.testbenches": "cocotb_tests/testbenches"}

setup(package_dir=FOLDERS,
      package_data={"sparseloom.fpga": ["calibration.json", "ecp5_mux.v"],   # the area fit's measured points; the ECP5 mux map
                    "sparseloom.sim": ["driver.cpp"]},                  # the fast path's compiled stream driver
      packages=[f"{package}.{sub}" if sub else package
                for package, folder in FOLDERS.items() for sub in ("", *find_packages(folder))])
