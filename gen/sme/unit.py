"""Unit record of the SME bit-sliced crossbar engine, and the engine as the analytical model sees it."""
from __future__ import annotations

import numpy as np

from sparseloom.golden import sme
from sparseloom.model import energy
from sparseloom.model.arch import Architecture, Compute, Level
from sparseloom.model.density import ActualData, FixedStructured
from sparseloom.model.formats import RankFormat, TensorFormat
from sparseloom.model.mapping import LevelMapping, Mapping
from sparseloom.model.sparse import Action, Sparsity
from sparseloom.model.workload import Tensor
from sparseloom.model.workload import Workload as Einsum

from ..tiles import ACCUMULATORS, BUFFER, HOST, TileRun
from ..unit import Bench, GemmShape, Setting, Unit, Workload
from .config import PRESETS, STEPS, SmeConfig
from .engine import SmeEngine
from .plan import Programming, check_k, check_no_mapping, occupancy, parse_max_bits_per_weight, plan_sme, programmings

#: Seed of the random weights of the FPGA table's reference workload (and of ``sme_occupancy``).
WORKLOAD_SEED = 2026
#: The model's levels between the input buffer and the output stage, and its compute.
CROSSBARS, CELLS = "Crossbars", "Cells"


def sme_occupancy(config: SmeConfig, shape: GemmShape, encoding) -> tuple[int, ...]:
    """The crossbars of each output tile: ``encoding`` itself where it is an occupancy (what a
    plan ran), else, for a bit budget (``--max-bits-per-weight``: 1..8 or None, where no W is
    given), the occupancy of random int8 W of the shape (``WORKLOAD_SEED``) orchestrated to it."""
    if isinstance(encoding, tuple):
        return encoding
    w = np.random.default_rng(WORKLOAD_SEED).integers(-128, 128, size=(shape.m, shape.k), dtype=np.int8)
    return occupancy(sme.map_weights(w, config.crossbar, encoding)[0])


def sme_programmings(config: SmeConfig, shape: GemmShape, encoding, mapping=None) -> list[Programming]:
    """The programmings of the GEMM (validated: K fits, no mapping, an occupancy per output tile)."""
    check_k(config, shape)
    check_no_mapping(config, mapping)
    occupied = sme_occupancy(config, shape, encoding)
    if len(occupied) != -(-shape.m // config.xbar_cols):
        raise ValueError(f"occupancy must list the crossbars of each of the {-(-shape.m // config.xbar_cols)} "
                         f"output tiles of M={shape.m}, got {len(occupied)}")
    return programmings(config, occupied)


def sme_runs(config: SmeConfig, shape: GemmShape, encoding, mapping=None) -> list[TileRun]:
    """Per programming: its rows load ``rows_per_beat`` a cycle (crossbars x xbar_rows /
    rows_per_beat beats) while the first vectors arrive, then every column of X is one vector of
    ``STEPS`` bit-serial steps (ceil(K / act_lanes) input beats each, double-buffered); each
    vector's bank beats leave one a cycle (at most ``STEPS`` banks, so they never stall compute)."""
    act_beats = -(-shape.k // config.act_lanes)
    return [TileRun(loads=act_beats, beats=STEPS, tiles=shape.n,
                    compute_from=p.crossbars * config.beats_per_crossbar, last_results=len(p.m_tiles))
            for p in sme_programmings(config, shape, encoding, mapping)]


def sme_architecture(config: SmeConfig, table: energy.EnergyTable = energy.DEFAULT) -> Architecture:
    """The engine as the model sees it: the host's memory; the double-buffered input vector, one
    bit a word (a step reads one bit-plane); the crossbars, one word a crossbar row (its input
    index, used bit and cells; a ``w`` beat carries ``rows_per_beat`` of them); the output stage,
    one bank's column sums at a time (what a ``result`` beat carries); and the cells, each ANDing
    its input bit into its column sum.
    Energies from ``sparseloom.model.energy``'s defaults: a cell's work is an add of its width;
    the table has no ADC, so the column sums' conversion costs nothing here. Areas from the same
    table: the crossbars' rows and the column accumulators of every crossbar as storage, a cell as
    an adder of its width. The model's own cycle bound (``ideal_cycles``) means nothing here: the
    einsum's box pads every slot, and only the columns are spatial; the cycles are the exact model's."""
    e, row_bits, rw = table, config.row_layout.size, config.result_width
    vector_bits, crossbar_bits = 2 * config.k_max * STEPS, config.crossbars * config.xbar_rows * row_bits
    return Architecture(config.name, (
        Level(HOST, word_bits=STEPS, energy={action: e.dram(STEPS) for action in ("read", "write", "update")}),
        Level(BUFFER, capacity=vector_bits, word_bits=1, keeps=("Inputs",),
              energy={"read": e.sram(vector_bits, 1), "write": e.sram(vector_bits, 1)},
              area_um2=e.storage_area(vector_bits)),
        Level(CROSSBARS, word_bits=row_bits, keeps=("Weights",),
              energy={action: e.sram(crossbar_bits, row_bits) for action in ("read", "write")},
              area_um2=e.storage_area(crossbar_bits)),
        Level(ACCUMULATORS, capacity=config.xbar_cols, word_bits=rw, keeps=("Outputs",), flushes=True,
              energy={action: e.sram(config.xbar_cols * rw, rw) for action in ("read", "write", "update")},
              area_um2=e.storage_area(config.crossbars * config.xbar_cols * config.acc_width)),
    ), Compute(CELLS, config.cells, e.add(config.cell_bits), config.cell_bits, area_um2=e.add_area(config.cell_bits)))


def _pow2(n: int) -> int:
    """The least power of two >= n (and >= 1)."""
    return 1 << max(0, n - 1).bit_length()


def sme_model(config: SmeConfig, shape: GemmShape, encoding, mapping=None):
    """The GEMM as the engine runs it, one einsum over programmings Q, bank slots B, crossbar
    slots Y of a bank, row groups G, inputs K of a vector, columns C, vectors N and input bits T:

        Outputs[Q][B][C][N] = sum_Y,G,K,T Weights[Q][B][Y][G][K] Inputs[Q][K][N][T]

    A crossbar's rows read their inputs through an index map and crossbars feed banks by a map,
    neither of them affine, so the box holds every slot and the ``Sparsity`` says which are there:
    a loaded crossbar is ``xbar_rows`` non-zero rows (which ones does not change a count; a vector
    shorter than the rows spreads them over row groups), an absent one is all zero, and the
    crossbars and the host store Weights compressed (CP along K: the input each row reads), so only
    loaded rows move. Each programming takes every vector anew (Inputs[Q]: the host streams X once
    a programming; Q outermost, N inside it, so the crossbars keep their rows); the host skips the
    vectors of a programming without crossbars (padding, or an all-zero W) and takes no result of
    a bank no crossbar feeds; the output stage sums a bank's crossbars (Y) and the steps, adding
    nothing for an absent row, and the cells skip absent rows.

    Sparseloop's rules take shares in floating point (``a x (1 - n / a)`` and ``a x (E / a)``,
    rounded down), which rounding can leave a hair below a whole count. So every extent a share
    divides by is a power of two: padded programmings and slots are empty, padded inputs are
    absent (CP at the host: it sends the ``act_beats x act_lanes`` of a vector, no more); every
    share is then a dyadic fraction and every count exact."""
    progs = sme_programmings(config, shape, encoding, mapping)
    k = -(-shape.k // config.act_lanes) * config.act_lanes   # the inputs a vector's beats carry
    rows, groups = config.xbar_rows, -(-config.xbar_rows // k)
    dims = {"Q": _pow2(len(progs)), "B": _pow2(max((len(p.m_tiles) for p in progs), default=1)),
            "Y": _pow2(max((n for p in progs for n in p.bank_crossbars), default=1)), "G": _pow2(groups),
            "K": _pow2(k), "C": config.xbar_cols, "N": shape.n, "T": STEPS}
    loaded = np.zeros((dims["Q"], dims["B"], dims["Y"], dims["G"], dims["K"]), np.int8)
    group, row_input = np.divmod(np.arange(rows), k)   # row r reads input r % k of row group r // k
    for q, p in enumerate(progs):
        for b, count in enumerate(p.bank_crossbars):
            loaded[q, b, :count, group, row_input] = 1

    def ranks(*names):
        return tuple(((1, d),) for d in names)

    workload = Einsum("sme_gemm", dims, (
        Tensor("Weights", ranks("Q", "B", "Y", "G", "K")), Tensor("Inputs", ranks("Q", "K", "N", "T")),
        Tensor("Outputs", ranks("Q", "B", "C", "N"), output=True),
    )).with_bits(Weights=config.row_layout.size, Inputs=1, Outputs=config.result_width)
    inner = ("T", "K", "G", "Y")   # the output stage's loops, innermost first
    used = Mapping((LevelMapping(HOST, {"Q": dims["Q"], "N": dims["N"]}, ("N", "Q")), LevelMapping(BUFFER),
                    LevelMapping(CROSSBARS, {"B": dims["B"]}, ("B",)),
                    LevelMapping(ACCUMULATORS, {d: dims[d] for d in inner}, inner, {"C": dims["C"]})))
    # one rank per loop over Weights in the crossbars' tile (B, Y, G: uncompressed), K's compressed
    crossbar = TensorFormat(tuple(RankFormat("U") for d in "BYG" if dims[d] > 1) + (RankFormat("CP"),))
    sparsity = Sparsity(
        {"Weights": ActualData(loaded), "Inputs": FixedStructured(k / dims["K"])},   # the first k of a vector
        {(HOST, "Weights"): TensorFormat((RankFormat("U"),) + crossbar.ranks), (CROSSBARS, "Weights"): crossbar,
         (HOST, "Inputs"): TensorFormat((RankFormat("U"), RankFormat("U"), RankFormat("CP")))},
        (Action(HOST, "skipping", ("Weights",), "Outputs"), Action(HOST, "skipping", ("Weights",), "Inputs"),
         Action(ACCUMULATORS, "skipping", ("Weights",), "Outputs"), Action(CELLS, "skipping", ("Weights",))))
    return workload, used, sparsity


def sme_traffic(config: SmeConfig) -> dict:
    """Each stream's beat as the model's words at the host: ``act_lanes`` inputs of ``STEPS``
    bits, ``rows_per_beat`` crossbar rows, one bank's ``xbar_cols`` sums. (``cfg``, a header per
    programming, is no tensor of the einsum.)"""
    return {"act": (HOST, "Inputs", "reads", config.act_layout.size),
            "w": (HOST, "Weights", "reads", config.rows_per_beat),
            "result": (HOST, "Outputs", "updates", config.xbar_cols)}


def sme_workloads(c: SmeConfig) -> list[Workload]:
    """Random int8 W (two output tiles, K up to 256), squeezed by the golden model, 64 vectors."""
    shape = GemmShape(2 * c.xbar_cols, 64, min(c.k_max, 256))
    return [Workload("none", shape, sme_occupancy(c, shape, None), "random int8 W, 64 vectors")]


SME = Unit(
    name="sme", summary="SME bit-sliced crossbars: int8 W x int8 X, squeezed (and orchestrated)",
    config_class=SmeConfig, presets=PRESETS, default_preset="sme_default",
    component=SmeEngine, plan=plan_sme, tile_runs=sme_runs,
    # a weight's 8 bits take 8 / cell_bits cells; a vector takes STEPS steps (dense mapping)
    peak_macs_per_cycle=lambda c, _: c.cells * c.cell_bits / (8 * STEPS),
    workloads=sme_workloads,
    setting=Setting("--max-bits-per-weight",
                    "re-encode W to at most this many set bits per magnitude first (default: none)",
                    parse_max_bits_per_weight, choices=tuple(map(str, range(1, 9))) + ("none",), default="none"),
    # sme_wide's streams differ from sme_tall's multi-row beats only in width: its benches run with -m slow.
    bench=Bench("sparseloom.testbenches.sme_tb", configs=tuple(c for n, c in PRESETS.items() if n != "sme_wide"),
                slow_configs=(PRESETS["sme_wide"],)),
    ice40_presets=("sme_small",), architecture=sme_architecture, model=sme_model, traffic=sme_traffic,
)
