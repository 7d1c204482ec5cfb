"""Runs one simulator-side bench on one configuration (shared by the pytest runners)."""
import os
from pathlib import Path

from sparseloom import verilate
from sparseloom.gen.emit import generator_of

HERE = Path(__file__).parent


def run_bench(config, module: str, testcase: str, tmp_path, env=None) -> None:
    """Logs, results and (with WAVES=1) dump.fst land in $SPARSELOOM_SIM_DIR/<config>-<test>."""
    sim_dir = os.environ.get("SPARSELOOM_SIM_DIR")
    test_dir = Path(sim_dir) / f"{config.name}-{testcase}" if sim_dir else tmp_path
    verilate.run(config, module, testcase=testcase, test_dir=test_dir,
                 env={"PYTHONPATH": str(HERE), "SPARSELOOM_UNIT": generator_of(config), **(env or {})})
