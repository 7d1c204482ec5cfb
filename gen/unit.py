"""The unit record: everything every tool needs to know about one generated unit, in one place.

Each generator package defines the records of its units beside its generators (e.g.
``gen/highlight/unit.py``) and lists them in its ``UNITS``; ``sparseloom.units`` collects
them. ``sparseloom verilog``, ``sparseloom sim`` and ``sparseloom fpga``, the FPGA table,
the benches and the cocotb runners are all derived from these records.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple


class GemmShape(NamedTuple):
    """Y (M x N) = W (M x K) @ X (K x N)."""

    m: int
    n: int
    k: int


@dataclass(frozen=True)
class Setting:
    """A unit's run-time setting as the command line names it, e.g. ``--pattern 2:4,2:4``."""

    flag: str
    help: str
    parse: Callable[[str], object]   # the text -> what the planner takes
    choices: tuple[str, ...] | None = None
    default: str | None = None       # None: the flag is required

    @property
    def dest(self) -> str:
        """The argparse attribute of the flag."""
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Operands:
    """What ``sparseloom sim`` reads and writes for a unit: the first operand's flag, its help and
    its reader (``load(path, flag)``; None: an integer matrix in a .npy file, W of a GEMM), and
    the helps of ``--inputs`` and ``--out``. The defaults are a GEMM's."""

    flag: str = "--weights"
    help: str = "W: int8 .npy, M x K"
    load: Callable | None = None
    inputs_help: str = "X: int8 .npy, K x N"
    out_help: str = "Y: int32 .npy, M x N"

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


#: The operands of a GEMM unit.
GEMM = Operands()


@dataclass(frozen=True)
class Workload:
    """A reference GEMM of the FPGA table; ``encoding`` is what the unit's cycle model takes, and
    ``macs`` the useful MACs where they are not M x N x K (a unit whose work is not one GEMM)."""

    label: str
    shape: GemmShape
    encoding: object
    description: str
    macs: int | None = None


@dataclass(frozen=True)
class Baseline:
    """The unit a unit is compared with in the FPGA table, and the floors it must meet there:
    ``(quantity, "<=" or ">=", bound)``, stated with DSP inference off only if ``dsp_off_only``."""

    unit: str
    matching: Callable          # a configuration -> the baseline configuration it is compared with
    floors: tuple = ()
    dsp_off_only: bool = False


@dataclass(frozen=True)
class Bench:
    """The unit's cocotb bench: its simulator-side module, the configurations every test runs
    on in the default suite, and the configurations and tests kept for ``-m slow``."""

    module: str
    configs: tuple
    slow_configs: tuple = ()
    slow_tests: tuple = ()


@dataclass(frozen=True)
class Unit:
    """One generated unit.

    ``plan(config, setting, W, X, mapping=None)`` packs every stream beat of a GEMM
    (``sparseloom.sim`` plays them); its result names the ``shape`` and the ``encoding`` it ran
    (HSS pattern, weight format, crossbar occupancy; None for dense int8).
    ``tile_runs(config, shape, encoding, mapping=None)`` is the exact stall-free cycle model, from
    the configuration, the shape and the encoding alone; ``peak_macs_per_cycle(config, encoding)``
    counts dense-equivalent MACs with every unit busy. ``architecture(config, table)`` is the unit as the
    analytical model (``sparseloom.model``) sees it, and ``model(config, shape, encoding,
    mapping=None)`` the ``(workload, mapping, skip or Sparsity)`` it runs: the same mapping the planner takes,
    by default the one it would choose, so the model evaluates exactly what the RTL runs;
    ``traffic(config)`` says which of the model's counts each stream's handshakes are, so the
    benches check the model's counts against the beats the driver saw. ``mappings(config, shape,
    encoding)`` lists the unit's map space for a GEMM: every mapping its hardware can run it with.
    """

    name: str
    summary: str
    config_class: type
    presets: dict
    default_preset: str
    component: type
    plan: Callable
    tile_runs: Callable
    peak_macs_per_cycle: Callable
    workloads: Callable          # config -> list[Workload]
    bench: Bench
    setting: Setting | None = None
    baseline: Baseline | None = None
    ice40_presets: tuple = ()    # presets small enough for the iCE40 UP5K
    architecture: Callable | None = None
    model: Callable | None = None
    traffic: Callable | None = None   # config -> {stream: (level, tensor, action, model words per beat)}
    mappings: Callable | None = None  # (config, shape, encoding) -> every mapping ``evaluate`` takes (its map space)
    operands: Operands = GEMM         # what ``plan`` takes as W, and the files ``sparseloom sim`` reads

    def cycles(self, config, shape: GemmShape, encoding, mapping=None) -> int:
        """Exact cycles of a stall-free run, first input beat to last result beat of each segment."""
        return sum(run.cycles() for run in self.tile_runs(config, GemmShape(*shape), encoding, mapping))

    def back_to_back_cycles(self, config, gemms) -> int:
        """Exact stall-free cycles of ``gemms`` ((shape, encoding) pairs) run back to back, first
        activation beat to last result beat: the core must be ``overlapped``."""
        from .tiles import back_to_back_cycles

        if not getattr(self.component, "overlapped", False):
            raise ValueError(f"the {self.name} unit runs one GEMM at a time (its core is not overlapped)")
        runs = [self.tile_runs(config, GemmShape(*shape), encoding) for shape, encoding in gemms]
        if any(len(r) != 1 for r in runs):
            raise ValueError(f"back to back: every GEMM on {self.name} must be one run of tiles")
        return back_to_back_cycles([r for (r,) in runs])

    def evaluate(self, config, shape: GemmShape, encoding, mapping=None, table=None):
        """The analytical model's result for this GEMM on this unit, with the unit's exact cycles.
        The model's third value is the densities the compute skips (``skip``) or a ``Sparsity``;
        ``table`` (an ``EnergyTable``) replaces the default energies and areas."""
        from sparseloom.model.analysis import analyse
        from sparseloom.model.sparse import Sparsity

        if self.model is None:
            raise ValueError(f"the analytical model does not describe the {self.name} unit yet")
        workload, used, skip = self.model(config, GemmShape(*shape), encoding, mapping)
        sparse = {"sparsity": skip} if isinstance(skip, Sparsity) else {"skip": skip}
        arch = self.architecture(config) if table is None else self.architecture(config, table)
        result = analyse(workload, arch, used, **sparse)
        result.ideal_cycles, result.cycles = result.cycles, float(self.cycles(config, shape, encoding, mapping))
        return result

    def load(self, name_or_file: str):
        """A preset by name, or a JSON file holding the parameters (an object of them, or a
        description from ``rtl/`` of this unit). Every failure is a ValueError naming the file."""
        if name_or_file in self.presets:
            return self.presets[name_or_file]
        path = Path(name_or_file)
        if not path.is_file():
            raise ValueError(f"config must be a preset ({', '.join(self.presets)}) or a JSON file, "
                             f"got {name_or_file!r}")
        try:
            d = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"config {str(path)!r} is not a JSON file (not UTF-8 text)") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"config {str(path)!r} is not a JSON file ({e.msg} at line {e.lineno})") from None
        what = f"a JSON object of {self.config_class.__name__} parameters or a description of a {self.name} unit"
        if not isinstance(d, dict):
            raise ValueError(f"config {str(path)!r} must be {what}, got a JSON {type(d).__name__}")
        if "generator" in d or "parameters" in d:  # a description
            if d.get("generator") != self.name:
                raise ValueError(f"config {str(path)!r} describes a {d.get('generator')!r} unit, "
                                 f"not a {self.name!r} one")
            d = d.get("parameters")
            if not isinstance(d, dict):
                raise ValueError(f"config {str(path)!r}: its \"parameters\" must be {what}, "
                                 f"got a JSON {type(d).__name__}")
        try:
            return self.config_class.from_dict(d)
        except (TypeError, ValueError) as e:
            raise type(e)(f"config {str(path)!r}: {e}") from None
