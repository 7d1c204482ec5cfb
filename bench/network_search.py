"""Warm-start and sparsity-aware search on every layer of real networks: evaluations to reach
within 5% of the best known EDP of each layer, and the final EDP, with and without each.

The architecture is a systolic array (``--rows`` x ``--cols`` MACs, a global buffer of
``--buffer`` words, one-word registers holding weights) described to the model, its map space
free (``MapSpace``: factor splits, orders, spatial splits); the weights pruned to ``--method``
(its density measured on the real weights where the ``models`` extra is installed, else the
pattern's nominal one). Four searches per (mapper, seed): plain (dense evaluation), warm-started,
sparsity-aware (each candidate evaluated under the layer's weight density) and both. Every
search's best-so-far mapping is re-evaluated under the layer's density, so all four are judged
on the sparse layer; a layer's best known EDP is the best any run found. Layers searched side
by side on a Dask ``LocalCluster`` (``--workers``) where no warm-start ties them together.

    python bench/network_search.py [--networks efficientnet_lite0 minilm] [--budget 500] [--seeds 3]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

from sparseloom import network_search as ns
from sparseloom.benchkit import write_json
from sparseloom.model.pool import pool as make_pool
from sparseloom.model.templates import Systolic

VARIANTS = {"plain": (False, False), "warm-start": (True, False), "sparsity-aware": (False, True),
            "both": (True, True)}


def trajectory(job, found) -> list[tuple[int, float]]:
    """(evaluations, EDP under the layer's density) at each improvement of the search."""
    return [(n, job.report(m).edp) for n, m in found.improvements]


def evaluations_to(path, target: float) -> int | None:
    return next((n for n, edp in path if edp <= target), None)


def run(networks, method, arch, mappers, seeds, budget, workers) -> dict:
    runs = []   # one per (network, mapper, seed, variant): per layer (name, trajectory)
    with make_pool(workers) as pool:
        for network in networks:
            for mapper in mappers:
                for seed in range(seeds):
                    for variant, (warm, aware) in VARIANTS.items():
                        jobs, _ = ns.described_jobs(arch, network, method, None, seed, aware)
                        start = time.perf_counter()
                        found = ns.search_layers(jobs, mapper, budget, "edp", pool, warm)
                        wall = time.perf_counter() - start
                        runs.append({"network": network, "mapper": mapper, "seed": seed, "variant": variant,
                                     "wall_s": wall, "layers": [(j.name, j.count, trajectory(j, f))
                                                                for j, f in zip(jobs, found)]})
                        print(f"{network} {mapper} seed {seed} {variant}: {wall:.1f} s", file=sys.stderr)
    best = {}
    for r in runs:
        for name, _, path in r["layers"]:
            key = (r["network"], name)
            best[key] = min(best.get(key, math.inf), path[-1][1])
    rows = []
    for network in networks:
        for mapper in mappers:
            for variant in VARIANTS:
                mine = [r for r in runs if (r["network"], r["mapper"], r["variant"]) == (network, mapper, variant)]
                reached, final, totals = [], [], []
                for r in mine:
                    total = 0.0
                    for name, count, path in r["layers"]:
                        target = best[(network, name)]
                        reached.append(evaluations_to(path, 1.05 * target))
                        final.append(path[-1][1] / target)
                        total += count * path[-1][1]
                    totals.append(total)
                hits = [n for n in reached if n is not None]
                rows.append({"network": network, "mapper": mapper, "variant": variant, "layers": len(mine[0]["layers"]),
                             "reached_5pct": len(hits) / len(reached),
                             "median_evaluations_to_5pct": statistics.median(hits) if hits else None,
                             "geomean_final_over_best": math.exp(statistics.fmean(math.log(x) for x in final)),
                             "network_edp_sum_median": statistics.median(totals),
                             "wall_s_median": statistics.median(r["wall_s"] for r in mine)})
    return {"rows": rows, "runs": [{**r, "layers": [{"name": n, "count": c, "trajectory": p}
                                                   for n, c, p in r["layers"]]} for r in runs]}


def speedup(network, method, arch, mapper, budget, workers) -> dict:
    """Wall time of one plain search of every layer on 1 and on ``workers`` Dask workers, and
    whether the results are the same."""
    walls, reports = {}, {}
    for n in (1, workers):
        jobs, _ = ns.described_jobs(arch, network, method, None, 0, False)
        with make_pool(n) as pool:   # the cluster's start-up is not timed
            start = time.perf_counter()
            found = ns.search_layers(jobs, mapper, budget, "edp", pool, False)
            walls[n] = time.perf_counter() - start
        reports[n] = ns.network_report(jobs, found, [])
    return {"network": network, "mapper": mapper, "budget": budget, "workers": workers,
            "wall_s": {str(n): w for n, w in walls.items()}, "speedup": walls[1] / walls[workers],
            "same_result": reports[1] == reports[workers]}


def table(rows, budget) -> str:
    lines = [f"| network | mapper | search | layers | layers within 5% of the best known | median evaluations "
             f"to 5% (of {budget}) | final EDP / best known (geomean) | wall (s) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        median = "-" if r["median_evaluations_to_5pct"] is None else f"{r['median_evaluations_to_5pct']:.0f}"
        lines.append(f"| {r['network']} | {r['mapper']} | {r['variant']} | {r['layers']} | "
                     f"{r['reached_5pct']:.0%} | {median} | {r['geomean_final_over_best']:.3f} | "
                     f"{r['wall_s_median']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", nargs="+", default=["efficientnet_lite0", "minilm"])
    p.add_argument("--method", default="hss:2:4,2:4")
    p.add_argument("--mappers", nargs="+", default=["sa", "ga"])
    p.add_argument("--budget", type=int, default=500)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--rows", type=int, default=16)
    p.add_argument("--cols", type=int, default=16)
    p.add_argument("--buffer", type=int, default=65536)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", default="bench/results/network_search.json")
    p.add_argument("--speedup-json", default="bench/results/dask_speedup.json")
    p.add_argument("--speedup-only", action="store_true", help="only the 1 vs --workers wall-time comparison")
    args = p.parse_args(argv)
    arch = Systolic(f"systolic{args.rows}x{args.cols}", args.rows, args.cols, buffer_words=args.buffer).architecture()
    command = " ".join(["python bench/network_search.py", *(argv or sys.argv[1:])])
    if not args.speedup_only:
        start = time.perf_counter()
        result = run(args.networks, args.method, arch, args.mappers, args.seeds, args.budget, args.workers)
        print(table(result["rows"], args.budget))
        write_json(args.json, {"command": command, "arch": arch.name, "method": args.method, "budget": args.budget,
                               "seeds": args.seeds, "wall_s": time.perf_counter() - start, **result})
    s = speedup(args.networks[0], args.method, arch, args.mappers[0], args.budget, args.workers)
    print(f"\n{s['network']}, {s['mapper']}, every layer side by side: {s['wall_s']['1']:.1f} s on 1 worker, "
          f"{s['wall_s'][str(args.workers)]:.1f} s on {args.workers}: {s['speedup']:.2f}x, same result: "
          f"{s['same_result']}")
    write_json(args.speedup_json, {"command": command, "arch": arch.name, "method": args.method, **s})
    return 0


if __name__ == "__main__":
    sys.exit(main())
