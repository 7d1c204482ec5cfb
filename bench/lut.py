"""LUT Tensor Core vs. the dequantise-then-multiply MAC baseline of the same peak throughput.

For each weight format, the same low-bit GEMM (LLM decoding shape by default: M = K = 256,
N = 8) runs on the Verilated ``lut_default`` and ``mac_default`` cores through
``sparseloom sim`` (bit-exact against the golden model, cycles equal to the cycle model). Both
cores do 1024 weight-bit x activation products per cycle at their peak. Prints markdown tables
(cycles, MACs per cycle, utilisation, speedup; table storage with and without symmetrisation)
and writes JSON.

    python bench/lut.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sparseloom.benchkit import simulate, write_json
from sparseloom.golden import lut
from sparseloom.units import unit

FORMATS = ["1", "2", "3", "4", "ternary"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lut", default="lut_default")
    ap.add_argument("--mac", default="mac_default")
    ap.add_argument("--m", type=int, default=256)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", default="bench/results/lut.json")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    x = rng.integers(-128, 128, size=(args.k, args.n), dtype=np.int8)
    weights = {f: rng.choice(np.array(lut.weight_format(f).values, dtype=np.int8), size=(args.m, args.k))
               for f in FORMATS}
    print(f"GEMM M={args.m} N={args.n} K={args.k}, seed {args.seed}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="sparseloom-bench-") as tmp:
        jobs = [(name, cfg, f) for f in FORMATS for name, cfg in (("lut", args.lut), ("mac", args.mac))]
        with ThreadPoolExecutor(args.jobs) as pool:
            reports = list(pool.map(lambda j: simulate(j[0], j[2], j[1], weights[j[2]], x, Path(tmp)), jobs))
    by = {(r["unit"], r["wbits"]): r for r in reports}

    lut_cfg, mac_cfg = unit("lut").load(args.lut), unit("mac").load(args.mac)
    rows = []
    for f in FORMATS:
        a, b = by["lut", f], by["mac", f]
        rows.append({"wbits": f, "planes": a["planes"],
                     "lut_cycles": a["cycles"], "lut_macs_per_cycle": a["macs_per_cycle"],
                     "lut_utilization": a["utilization"],
                     "mac_cycles": b["cycles"], "mac_macs_per_cycle": b["macs_per_cycle"],
                     "mac_utilization": b["utilization"], "speedup": b["cycles"] / a["cycles"],
                     "model_cycles": {"lut": a["model_cycles"], "mac": b["model_cycles"]}})
    r = by["lut", FORMATS[0]]  # the tables are the same for every format
    tables = r["tables_built"]
    storage = {"g": lut_cfg.g, "table_width": lut_cfg.table_width, "tables": tables,
               "entries_stored": tables * r["table_entries_stored"],
               "entries_without_symmetrisation": tables * r["table_entries_full"],
               "bits_stored": r["table_bits_stored"],
               "bits_without_symmetrisation": r["table_bits_without_symmetrisation"],
               "memory_bits_provisioned": lut_cfg.derived()["table_memory_bits"]}

    peak = lut_cfg.wbit_macs_per_cycle
    print(f"\n`{args.lut}` ({lut_cfg.units} look-up units, g={lut_cfg.g}) vs `{args.mac}` "
          f"({mac_cfg.m_tile * mac_cfg.n_tile} INT8 MACs); both {peak} weight-bit x "
          f"activation products per cycle at peak. GEMM M={args.m} N={args.n} K={args.k}.\n")
    print("| weights | planes | LUT cycles | LUT MACs/cycle | LUT utilisation | MAC cycles | MAC MACs/cycle "
          "| MAC utilisation | LUT speedup |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| W{r['wbits']} | {r['planes']} | {r['lut_cycles']} | {r['lut_macs_per_cycle']:.1f} | "
              f"{r['lut_utilization']:.3f} | {r['mac_cycles']} | {r['mac_macs_per_cycle']:.1f} | "
              f"{r['mac_utilization']:.3f} | {r['speedup']:.2f}x |")
    print(f"\nTables the core builds for this GEMM ({tables} = groups x columns of every tile, "
          f"{lut_cfg.table_width}-bit entries): {storage['entries_stored']} entries / {storage['bits_stored']} "
          f"bits stored with symmetrisation, {storage['entries_without_symmetrisation']} entries / "
          f"{storage['bits_without_symmetrisation']} bits without (2x).")
    write_json(args.json, {"lut": args.lut, "mac": args.mac, "m": args.m, "n": args.n, "k": args.k,
                           "seed": args.seed, "rows": rows, "table_storage": storage})


if __name__ == "__main__":
    main()
