"""The fast simulation path: a compiled Verilator driver per configuration, no Python per cycle.

``driver.cpp`` plays the same ``Play``s as the cocotb engine, cycle for cycle (handshakes
before each rising edge, new values after it, stalls drawn from the caller's
``random.Random`` in the same order), so both give the same result words, cycles and
handshakes on the same seed; cocotb stays the verification bench. The driver's port
accessors (``ports.h``) are generated from the unit's JSON description; a build is cached
per configuration like the cocotb one (``sparseloom.verilate``). The driver's model is the
core inside a generated wrapper that registers its inputs (``shadow_wrapper``): a cycle then
costs one pass over the core's logic, not three (the edge's, and the input logic's twice).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
from itertools import repeat
from pathlib import Path

import numpy as np

from sparseloom import verilate
from sparseloom.gen import emit

from .run import Play, back_to_back_plays, back_to_back_result, plan_plays, plan_result

DRIVER = Path(__file__).with_name("driver.cpp")
MAGIC = 0x31444C53  # "SLD1"
TIMEOUT = 10_000_000  # cycles a play may stall, as the cocotb engine's default
#: The compiler's optimization of the driver build, as make variables of verilated.mk (an -O in
#: -CFLAGS would come after them and override all three): the model's per-cycle code and the
#: driver at -O3, the code that runs once (constructor, initial values) at -O1, the runtime at -O2.
MAKE_OPT = ["OPT_FAST=-O3", "OPT_SLOW=-O1", "OPT_GLOBAL=-O2"]
#: Verilator options verilated for each driver build; the one whose per-cycle C++ (the model's
#: files but the ``__Slow`` ones) is smallest is compiled, the first on a tie. The model runs its
#: per-cycle code mostly straight through, so its size tracks its cost a cycle, and Verilator's
#: DFG optimizer (on by default) makes it larger on some cores and smaller on others: measured on
#: the default configurations, HighLight 6.4 MB with DFG against 3.4 MB without (1.6x slower with),
#: LUT 2.1 MB against 7.4 MB (4.8x faster with), dense 0.55 MB against 1.7 MB (1.7x faster with).
VARIANTS = ((), ("-fno-dfg",))


def stream_ports(description: dict) -> list[dict]:
    """The streams of a described core in port order: name, direction of the payload, 32-bit chunks."""
    ports = {p["name"]: p for p in description["ports"]}
    out = []
    for name in description["streams"]:
        payload = ports[f"{name}__payload"]
        out.append({"name": name, "input": payload["direction"] == "in", "chunks": -(-payload["width"] // 32)})
    return out


def member(port: str) -> str:
    """The C++ member Verilator gives ``port`` (it escapes a double underscore as ``___05F``)."""
    return port.replace("__", "___05F")


def ports_header(description: dict) -> str:
    """C++ accessors of every stream of the core (the ``ports.h`` driver.cpp includes)."""
    top = f"V{description['name']}"
    streams = stream_ports(description)

    def switch(fn, signature, body, streams_of):
        cases = "".join(f"        case {i}: {body.format(s=member(s['name'] + '__'))} break;\n"
                        for i, s in enumerate(streams) if streams_of(s))
        return f"inline void {fn}({signature}) {{\n    switch (stream) {{\n{cases}    }}\n}}\n"

    def getter(fn, signal, streams_of):
        cases = "".join(f"        case {i}: return top->{member(s['name'] + '__' + signal)};\n"
                        for i, s in enumerate(streams) if streams_of(s))
        return f"inline bool {fn}({top}* top, int stream) {{\n    switch (stream) {{\n{cases}    }}\n    return false;\n}}\n"

    def is_in(s):
        return s["input"]

    def is_out(s):
        return not s["input"]

    idle = "".join(f"    top->{member(s['name'] + ('__valid' if s['input'] else '__ready'))} = 0;\n" for s in streams)
    return "\n".join([
        f"// Generated from the JSON description of {description['name']}: its streams, for driver.cpp.",
        "#pragma once",
        "#include <cstdint>",
        f'#include "{top}.h"',
        '#include "verilated.h"',
        f"typedef {top} Top;",
        f"static const int CHUNKS[] = {{{', '.join(str(s['chunks']) for s in streams)}}};",
        "template <class T> inline void put(T& sig, const uint32_t* c) {",
        "    uint64_t v = c[0];",
        "    if (sizeof(T) > 4) v |= (uint64_t)c[1] << 32;",
        "    sig = (T)v;",
        "}",
        "template <std::size_t N> inline void put(VlWide<N>& sig, const uint32_t* c) {",
        "    for (std::size_t i = 0; i < N; i++) sig[i] = c[i];",
        "}",
        "template <class T> inline void take(const T& sig, uint32_t* c) {",
        "    uint64_t v = sig;",
        "    c[0] = (uint32_t)v;",
        "    if (sizeof(T) > 4) c[1] = (uint32_t)(v >> 32);",
        "}",
        "template <std::size_t N> inline void take(const VlWide<N>& sig, uint32_t* c) {",
        "    for (std::size_t i = 0; i < N; i++) c[i] = sig[i];",
        "}",
        switch("set_payload", f"{top}* top, int stream, const uint32_t* c", "put(top->{s}payload, c);", is_in),
        switch("get_payload", f"{top}* top, int stream, uint32_t* c", "take(top->{s}payload, c);", is_out),
        switch("set_valid", f"{top}* top, int stream, bool on", "top->{s}valid = on;", is_in),
        switch("set_ready", f"{top}* top, int stream, bool on", "top->{s}ready = on;", is_out),
        getter("get_ready", "ready", is_in),
        getter("get_valid", "valid", is_out),
        f"inline void idle({top}* top) {{\n{idle}}}\n",
    ])


def shadow_wrapper(description: dict) -> str:
    """Verilog of the model the driver runs: the core inside ``{name}__fast``, a wrapper with the
    same ports plus ``load``, whose inputs but ``clk`` reach the core through shadow registers,
    latched at each rising ``clk`` or ``load``. Every input of the model then feeds registers only,
    so Verilator evaluates the core's logic once a cycle, after the edge, not also for the inputs
    driven after it (what driver.cpp would otherwise pay on every cycle)."""
    name, ports = description["name"], description["ports"]
    if any(p["name"] == "load" or p["name"].startswith("shadow__") for p in ports):
        raise ValueError(f"{name}: a port named load or shadow__* would clash with the fast driver's wrapper")
    shadowed = {p["name"] for p in ports if p["direction"] == "in" and p["name"] != "clk"}

    def bits(p):
        return f"[{p['width'] - 1}:0] " if p["width"] > 1 else ""

    rest = [p for p in ports if p["name"] != "clk"]
    lines = [f"// The {name} core for the fast driver (sparseloom.sim.fast): inputs through shadow registers.",
             f"module {name}__fast({', '.join(['clk', 'load'] + [p['name'] for p in rest])});",
             "  input clk;", "  input load;"]
    lines += [f"  {'input' if p['direction'] == 'in' else 'output'} {bits(p)}{p['name']};" for p in rest]
    lines += [f"  reg {bits(p)}shadow__{p['name']};" for p in rest if p["name"] in shadowed]
    lines += ["  always @(posedge clk or posedge load) begin"]
    lines += [f"    shadow__{p['name']} <= {p['name']};" for p in rest if p["name"] in shadowed]
    lines += ["  end", f"  {name} core ("]
    lines += [",\n".join(f"    .{p['name']}({'shadow__' if p['name'] in shadowed else ''}{p['name']})" for p in ports)]
    lines += ["  );", "endmodule", ""]
    return "\n".join(lines)


def _build_key(config) -> str:
    h = hashlib.sha256()
    h.update(verilate.build_key(config, waves=False).encode())
    h.update(DRIVER.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def build(config) -> Path:
    """Compile ``config`` with the driver (once per configuration) and return the executable."""
    verilate.toolchain_env()
    build_dir = verilate.cache_root() / "fast" / f"{config.name}-{_build_key(config)}"
    exe = build_dir / "driver"
    with verilate.locked(build_dir.with_name(build_dir.name + ".lock")):
        if not (build_dir / "BUILT").exists():
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            component = emit.build(config)
            description = emit.describe(config, component)
            (build_dir / f"{config.name}.v").write_text(emit.to_verilog(config, component))
            (build_dir / f"{config.name}__fast.v").write_text(shadow_wrapper(description))
            (build_dir / "ports.h").write_text(ports_header(description))
            (build_dir / "description.json").write_text(json.dumps(description))
            shutil.copy(DRIVER, build_dir / "driver.cpp")
            log = build_dir / "build.log"
            with open(log, "w") as fd:
                sizes = {}
                for i, variant in enumerate(VARIANTS):
                    cmd = ["verilator", "--cc", "--exe", *verilate.SIM_FLAGS, *variant,
                           "--top-module", f"{config.name}__fast", "--prefix", f"V{config.name}",
                           "-CFLAGS", f"-I{build_dir}", "-Mdir", f"obj{i}", "-o", str(exe),
                           f"{config.name}__fast.v", f"{config.name}.v", "driver.cpp"]
                    fd.write(f"$ {' '.join(cmd)}\n")
                    fd.flush()
                    if not subprocess.run(cmd, cwd=build_dir, stdout=fd, stderr=subprocess.STDOUT).returncode:
                        sizes[i] = sum(f.stat().st_size for f in (build_dir / f"obj{i}").glob("*.cpp")
                                       if "__Slow" not in f.name)
                if not sizes:
                    raise RuntimeError(f"Verilator build of the {config.name} driver failed; log {log}")
                best = min(sizes, key=lambda i: (sizes[i], i))
                fd.write(f"per-cycle C++ bytes: {', '.join(f'{VARIANTS[i]}: {n}' for i, n in sizes.items())}; "
                         f"compiling {VARIANTS[best]}\n")
                cmd = ["make", "-C", f"obj{best}", "-f", f"V{config.name}.mk", "-j", str(os.cpu_count() or 1),
                       *MAKE_OPT]
                fd.write(f"$ {' '.join(cmd)}\n")
                fd.flush()
                done = subprocess.run(cmd, cwd=build_dir, stdout=fd, stderr=subprocess.STDOUT)
            if done.returncode:
                raise RuntimeError(f"Verilator build of the {config.name} driver failed; log {log}")
            for i in range(len(VARIANTS)):
                shutil.rmtree(build_dir / f"obj{i}", ignore_errors=True)
            (build_dir / "BUILT").write_text("ok\n")
    return exe


class Driver:
    """One configuration's compiled driver: ``play`` runs plays from reset, as one simulation."""

    def __init__(self, config):
        self.config = config
        self.exe = build(config)
        self.streams = stream_ports(json.loads(self.exe.with_name("description.json").read_text()))
        self.index = {s["name"]: i for i, s in enumerate(self.streams)}

    def play(self, plays: list[Play], *, stall: float = 0.0, rng: random.Random | None = None,
             timeout: int = TIMEOUT) -> list[tuple[dict, int, dict]]:
        """(received words, cycles, handshakes) of each play, as ``engine.play`` returns them;
        ``rng`` draws the stalls and is left where the cocotb engine would leave it."""
        rng = rng or random.Random(0)
        version, state, gauss = rng.getstate()
        with tempfile.TemporaryDirectory(prefix="sparseloom-fast-") as tmp:
            inp, out = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
            with open(inp, "wb") as fd:
                fd.write(struct.pack("<IQ", MAGIC, timeout))
                fd.write(np.array(state, dtype="<u4").tobytes())
                fd.write(struct.pack("<I", len(plays)))
                for p in plays:
                    fd.write(struct.pack("<dI", stall if p.stalled else 0.0, len(p.sources)))
                    for name, beats in p.sources.items():
                        i = self.index[name]
                        fd.write(struct.pack("<IIQ", i, name in p.untimed, len(beats)))
                        size = 4 * self.streams[i]["chunks"]
                        fd.write(b"".join(map(int.to_bytes, map(int, beats), repeat(size), repeat("little"))))
                    fd.write(struct.pack("<I", len(p.sinks)))
                    for name, want in p.sinks.items():
                        fd.write(struct.pack("<IQ", self.index[name], want))
            done = subprocess.run([str(self.exe), str(inp), str(out)], capture_output=True, text=True)
            if done.returncode == 3:
                raise TimeoutError(done.stderr.strip())
            if done.returncode:
                raise RuntimeError(f"the {self.config.name} driver failed ({done.returncode}): {done.stderr.strip()}")
            data = out.read_bytes()
        outcomes, at = [], 0

        def u64():
            nonlocal at
            (v,) = struct.unpack_from("<Q", data, at)
            at += 8
            return v

        for p in plays:
            cycles = u64()
            handshakes = {name: u64() for name in p.sources}
            got = {}
            for name in p.sinks:
                n, size = u64(), 4 * self.streams[self.index[name]]["chunks"]
                got[name] = [int.from_bytes(data[at + i * size:at + (i + 1) * size], "little") for i in range(n)]
                at += n * size
                handshakes[name] = n
            outcomes.append((got, cycles, handshakes))
        state = tuple(int(v) for v in np.frombuffer(data, dtype="<u4", count=625, offset=at))
        rng.setstate((version, state, gauss))
        return outcomes

    def run_plan(self, plan, *, stall: float = 0.0, rng=None):
        """(Y, cycles, handshakes) of ``plan``, as ``sim.run.run_plan`` gives them under cocotb."""
        return plan_result(plan, self.play(plan_plays(plan), stall=stall, rng=rng))

    def run_back_to_back(self, plans, *, stall: float = 0.0, rng=None):
        """(every Y, cycles, handshakes) of ``plans`` back to back, as ``sim.run.run_back_to_back``."""
        return back_to_back_result(plans, self.play(back_to_back_plays(plans), stall=stall, rng=rng))
