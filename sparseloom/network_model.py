"""A real network, layer by layer, through the analytical model of one of our units.

Each layer that is one GEMM (``sparseloom.model.networks.gemm_shape``: linear layers, and
convolutions as im2col) runs on the unit's default mapping, the one ``sim`` would run; the
others (depthwise convolutions, attention's activation x activation products) are listed as
not mapped, with the reason. A layer repeated ``count`` times counts ``count`` times in the
totals; the network's EDP is its total energy times its total cycles (layers run one after
another).
"""
from __future__ import annotations

from sparseloom.gen.unit import GemmShape
from sparseloom.model import networks


def evaluate(u, config, encoding, network: str, method: str, tokens: int | None = None, table=None) -> dict:
    """The report of ``network`` (weights compressed by ``method``) on unit ``u`` with ``config``
    (energies from ``table``, an ``EnergyTable``, or the defaults)."""
    rows, cycles, energy = [], 0.0, 0.0
    for layer in networks.layers(network, tokens):
        workload = networks.with_density(layer, method, nominal=layer.weight is None)
        density = next((t.density for t in workload.tensors if t.name == "Weights"), None)
        shape = networks.gemm_shape(layer)
        row = {"name": layer.name, "count": layer.count, "weight_density": density}
        if shape is None:
            row["mapped"] = ("depthwise: one row per channel" if "C" in layer.workload.dims
                             else "activation x activation (attention)")
            rows.append(row)
            continue
        m, k, n = shape
        result = u.evaluate(config, GemmShape(m, n, k), encoding, table=table)
        row |= {"mapped": "yes", "gemm": {"m": m, "k": k, "n": n}, "cycles": result.cycles,
                "energy_pj": result.energy_pj, "edp": result.edp, "utilization": result.utilization,
                "macs": m * k * n}
        cycles += layer.count * result.cycles
        energy += layer.count * result.energy_pj
        rows.append(row)
    macs = sum(r["count"] * r["macs"] for r in rows if "macs" in r)
    return {"network": network, "method": method, "tokens": tokens, "layers": rows,
            "cycles": cycles, "energy_pj": energy, "edp": cycles * energy,
            "macs": macs, "macs_per_cycle": macs / cycles if cycles else 0.0}


def table(report: dict) -> str:
    """The report as a markdown table, a row per layer and a total."""
    lines = [f"{report['unit']} {report['config']} on {report['network']} ({report['method']}): "
             f"{report['cycles']:.0f} cycles, {report['energy_pj'] / 1e6:.4g} uJ, EDP {report['edp']:.4g} pJ*cycles, "
             f"{report['macs_per_cycle']:.1f} MACs/cycle", "",
             "| layer | runs | M x K x N | weight density | cycles | energy (uJ) | utilisation |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in report["layers"]:
        density = "" if r["weight_density"] is None else f"{r['weight_density']:.3f}"
        if r["mapped"] != "yes":
            lines.append(f"| {r['name']} | {r['count']} | not mapped: {r['mapped']} | {density} | | | |")
            continue
        g = r["gemm"]
        lines.append(f"| {r['name']} | {r['count']} | {g['m']} x {g['k']} x {g['n']} | {density} | {r['cycles']:.0f} | "
                     f"{r['energy_pj'] / 1e6:.4g} | {r['utilization']:.3f} |")
    return "\n".join(lines)
