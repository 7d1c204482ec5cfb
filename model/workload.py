"""Workloads as einsums: named dimensions with sizes, and each tensor a projection of them.

A tensor's rank r is indexed by a sum of dimensions with coefficients (an affine projection,
as in Timeloop's problem shapes): a GEMM's W is [M][K]; a convolution's input is
[N][C][stride * P + dilation * R][...]. Exactly one tensor is the output (read and written);
the rest are operands. Every compute is one point of the dimensions' box.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

Term = tuple[int, str]   # (coefficient, dimension)


@dataclass(frozen=True)
class Tensor:
    """``ranks[r]`` is the list of (coefficient, dimension) terms whose sum indexes rank r."""

    name: str
    ranks: tuple[tuple[Term, ...], ...]
    output: bool = False
    bits: int | None = None   # bits of one element (None: a word of whichever level holds it)
    density: float | None = None   # fraction of non-zero elements, when known (for analyse's skip=)

    @property
    def dims(self) -> frozenset[str]:
        """The dimensions the tensor's index depends on (its relevant dimensions)."""
        return frozenset(d for rank in self.ranks for c, d in rank if c)


@dataclass(frozen=True)
class Workload:
    """``dims`` in the order they are declared; ``tensors`` with exactly one output."""

    name: str
    dims: dict[str, int]
    tensors: tuple[Tensor, ...]

    def __post_init__(self):
        if not self.dims:
            raise ValueError(f"workload {self.name}: no dimensions")
        for d, size in self.dims.items():
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise ValueError(f"workload {self.name}: dimension {d} must be an integer >= 1, got {size!r}")
        names = [t.name for t in self.tensors]
        if len(set(names)) != len(names):
            raise ValueError(f"workload {self.name}: tensor names must be distinct, got {names}")
        if sum(t.output for t in self.tensors) != 1:
            raise ValueError(f"workload {self.name}: exactly one tensor must be the output, got "
                             f"{[t.name for t in self.tensors if t.output]}")
        for t in self.tensors:
            for rank in t.ranks:
                for c, d in rank:
                    if d not in self.dims:
                        raise ValueError(f"workload {self.name}: tensor {t.name} names dimension {d!r}; "
                                         f"allowed: {', '.join(self.dims)}")
                    if not isinstance(c, int) or c < 0:
                        raise ValueError(f"workload {self.name}: tensor {t.name}: coefficients must be integers "
                                         f">= 0, got {c!r} for {d}")

    def with_bits(self, **bits: int) -> Workload:
        """The same workload with the named tensors' element widths (energy scales with them)."""
        for name in bits:
            self.tensor(name)
        return dataclasses.replace(self, tensors=tuple(dataclasses.replace(t, bits=bits.get(t.name, t.bits))
                                                       for t in self.tensors))

    @property
    def computes(self) -> int:
        return math.prod(self.dims.values())

    @property
    def output(self) -> Tensor:
        return next(t for t in self.tensors if t.output)

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise ValueError(f"workload {self.name} has no tensor {name!r}; "
                         f"allowed: {', '.join(t.name for t in self.tensors)}")

    def size(self, tensor: Tensor) -> int:
        """Elements of ``tensor`` the whole workload touches."""
        return self.tile(tensor, self.dims)

    def tile(self, tensor: Tensor, extents: dict[str, int]) -> int:
        """Elements of ``tensor`` a box of the dimensions with these ``extents`` touches."""
        return math.prod(rank_extent(rank, extents) for rank in tensor.ranks)

    # ----- the workloads our units and networks run ------------------------------------------
    @classmethod
    def gemm(cls, m: int, n: int, k: int, name: str = "gemm") -> Workload:
        """Y[M][N] = sum_K W[M][K] X[K][N]."""
        return cls(name, {"M": m, "N": n, "K": k}, (
            Tensor("Weights", (((1, "M"),), ((1, "K"),))),
            Tensor("Inputs", (((1, "K"),), ((1, "N"),))),
            Tensor("Outputs", (((1, "M"),), ((1, "N"),)), output=True)))

    @classmethod
    def bitserial_gemm(cls, m: int, n: int, k: int, planes: int, name: str = "bitserial_gemm") -> Workload:
        """Y[M][N] = sum_K,B c_B W[M][K][B] X[K][N]: low-bit weights as ``planes`` bit-planes B,
        each compute one weight bit times an activation."""
        return cls(name, {"M": m, "N": n, "K": k, "B": planes}, (
            Tensor("Weights", (((1, "M"),), ((1, "K"),), ((1, "B"),))),
            Tensor("Inputs", (((1, "K"),), ((1, "N"),))),
            Tensor("Outputs", (((1, "M"),), ((1, "N"),)), output=True)))

    @classmethod
    def conv2d(cls, n: int, k: int, c: int, p: int, q: int, r: int, s: int, *, stride: int = 1,
               dilation: int = 1, depthwise: bool = False, name: str = "conv2d") -> Workload:
        """Outputs[N][K][P][Q] = sum_C,R,S Weights[K][C][R][S] Inputs[N][C][stride P + dilation R][...];
        depthwise: one filter per channel (C = K, no sum over C)."""
        h = ((stride, "P"), (dilation, "R"))
        w = ((stride, "Q"), (dilation, "S"))
        if depthwise:
            if c != k:
                raise ValueError(f"a depthwise convolution has C = K, got C={c}, K={k}")
            return cls(name, {"N": n, "C": c, "P": p, "Q": q, "R": r, "S": s}, (
                Tensor("Weights", (((1, "C"),), ((1, "R"),), ((1, "S"),))),
                Tensor("Inputs", (((1, "N"),), ((1, "C"),), h, w)),
                Tensor("Outputs", (((1, "N"),), ((1, "C"),), ((1, "P"),), ((1, "Q"),)), output=True)))
        return cls(name, {"N": n, "K": k, "C": c, "P": p, "Q": q, "R": r, "S": s}, (
            Tensor("Weights", (((1, "K"),), ((1, "C"),), ((1, "R"),), ((1, "S"),))),
            Tensor("Inputs", (((1, "N"),), ((1, "C"),), h, w)),
            Tensor("Outputs", (((1, "N"),), ((1, "K"),), ((1, "P"),), ((1, "Q"),)), output=True)))

    @classmethod
    def batched_matmul(cls, b: int, m: int, n: int, k: int, name: str = "bmm") -> Workload:
        """Y[B][M][N] = sum_K A[B][M][K] X[B][K][N] (attention's QK^T and AV)."""
        return cls(name, {"B": b, "M": m, "N": n, "K": k}, (
            Tensor("A", (((1, "B"),), ((1, "M"),), ((1, "K"),))),
            Tensor("X", (((1, "B"),), ((1, "K"),), ((1, "N"),))),
            Tensor("Y", (((1, "B"),), ((1, "M"),), ((1, "N"),)), output=True)))

    @classmethod
    def mttkrp(cls, i: int, j: int, k: int, l_: int, name: str = "mttkrp") -> Workload:
        """Matricised tensor times Khatri-Rao product: Y[I][J] = sum_K,L A[I][K][L] B[K][J] C[L][J]."""
        return cls(name, {"I": i, "J": j, "K": k, "L": l_}, (
            Tensor("A", (((1, "I"),), ((1, "K"),), ((1, "L"),))),
            Tensor("B", (((1, "K"),), ((1, "J"),))),
            Tensor("C", (((1, "L"),), ((1, "J"),))),
            Tensor("Y", (((1, "I"),), ((1, "J"),)), output=True)))

    def to_dict(self) -> dict:
        """The workload as YAML/JSON-ready data (what ``from_dict`` reads): each rank a list of
        [coefficient, dimension] terms."""
        return {"workload": {"name": self.name, "dims": dict(self.dims), "tensors": [
            {"name": t.name, "ranks": [[list(term) for term in rank] for rank in t.ranks], "output": t.output,
             **({"bits": t.bits} if t.bits is not None else {}),
             **({"density": t.density} if t.density is not None else {})} for t in self.tensors]}}

    @classmethod
    def from_dict(cls, d) -> Workload:
        """``{workload: {name, dims: {D: size}, tensors: [{name, ranks: [[[1, "M"]], ...], output}]}}``,
        or a Timeloop problem (``problem: {shape, instance}``)."""
        body = d.get("workload", d) if isinstance(d, dict) else d
        if isinstance(body, dict) and ("problem" in body or "shape" in body):
            return cls.from_timeloop(d)
        if not isinstance(body, dict) or not isinstance(body.get("dims"), dict) or not isinstance(
                body.get("tensors"), list):
            raise ValueError("workload: must be {workload: {name, dims: {D: size}, tensors: [...]}} or a "
                             "Timeloop problem")
        tensors = []
        for i, t in enumerate(body["tensors"]):
            allowed = {"name", "ranks", "output", "bits", "density"}
            if not isinstance(t, dict) or "name" not in t or "ranks" not in t or set(t) - allowed:
                raise ValueError(f"workload: tensor {i} must give name and ranks, and may give output, bits, "
                                 f"density; got {sorted(t) if isinstance(t, dict) else t!r}")
            try:
                ranks = tuple(tuple((int(c), str(dim)) for c, dim in rank) for rank in t["ranks"])
            except (TypeError, ValueError):
                raise ValueError(f"workload: tensor {t['name']}: each rank is a list of [coefficient, dimension] "
                                 f"terms, got {t['ranks']!r}") from None
            tensors.append(Tensor(str(t["name"]), ranks, bool(t.get("output", False)), t.get("bits"), t.get("density")))
        return cls(str(body.get("name", "workload")), dict(body["dims"]), tuple(tensors))

    @classmethod
    def from_timeloop(cls, problem: dict) -> Workload:
        """A Timeloop problem (``problem: {shape: ..., instance: ...}``, v0.4). Coefficients named
        in the shape (``coefficients: [{name: Wstride, default: 1}]``) take the instance's value."""
        p = problem.get("problem", problem)
        shape, instance = p["shape"], p["instance"]
        coefficients = {c["name"]: instance.get(c["name"], c.get("default", 1)) for c in shape.get("coefficients", [])}
        dims = {d: int(instance[d]) for d in shape["dimensions"]}
        tensors = []
        for ds in shape["data_spaces"]:
            ranks = []
            for rank in ds["projection"]:  # a rank is a list of terms: [dim], [dim, coefficient] or reversed
                terms = []
                for term in rank:
                    dim = next(x for x in term if x in dims)
                    coefficient = next((x for x in term if x != dim), 1)
                    terms.append((int(coefficients.get(coefficient, coefficient)), dim))
                ranks.append(tuple(terms))
            tensors.append(Tensor(ds["name"], tuple(ranks), bool(ds.get("read_write", False))))
        return cls(shape.get("name", "problem"), dims, tuple(tensors))


def rank_extent(rank: tuple[Term, ...], extents: dict[str, int]) -> int:
    """Distinct values of sum(c * x_d) over x_d in 0..extents[d]-1."""
    return len(rank_values(rank, extents))


def rank_values(rank: tuple[Term, ...], extents: dict[str, int]) -> range | set:
    """The values of one rank's index over a box of dimension extents (a range when contiguous)."""
    terms = sorted((c, extents.get(d, 1)) for c, d in rank if c and extents.get(d, 1) > 1)
    if not terms:
        return range(1)
    span = 0   # the values so far are 0..span, without gaps, while each step is at most span + 1
    for c, e in terms:
        if c > span + 1:
            break
        span += c * (e - 1)
    else:
        return range(span + 1)
    values = {0}
    for c, e in terms:
        values = {v + c * i for v in values for i in range(e)}
    return values
