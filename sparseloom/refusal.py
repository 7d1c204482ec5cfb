"""The command line's promise for bad input, as a check any test can run on any subcommand.

``check_refused(argv, folder)`` runs ``sparseloom <argv>`` in this process with every
simulator and synthesis entry point disabled, and asserts the promise: exit status 2, one
line on stderr naming what was wrong, no traceback, no simulation or synthesis started, no
temporary file left, and ``folder`` unchanged byte for byte. Later subcommands reuse it.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path


@contextlib.contextmanager
def no_tools():
    """Make any Verilator build (cocotb's or the fast driver's), simulation or synthesis an error:
    refusals come before work."""
    from sparseloom import verilate
    from sparseloom.fpga import flow
    from sparseloom.sim import fast

    def reached(what):
        def fail(*args, **kwargs):
            raise AssertionError(f"{what} was started: bad input must be refused before any work")
        return fail

    saved = {(verilate, "build"): verilate.build, (verilate, "run"): verilate.run, (fast, "build"): fast.build,
             (flow, "fpga_report"): flow.fpga_report, (flow, "synthesise"): flow.synthesise}
    for (module, name) in saved:
        setattr(module, name, reached(f"{module.__name__}.{name}"))
    try:
        yield
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) below ``folder``, by relative path."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@contextlib.contextmanager
def private_tempdir():
    """Point ``tempfile`` at a fresh folder of this call's own (other processes' temporaries
    cannot land in it) and yield it."""
    saved = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="refusal-") as private:
        tempfile.tempdir = private
        try:
            yield Path(private)
        finally:
            tempfile.tempdir = saved


def run(argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``sparseloom <argv>`` run in this process."""
    from sparseloom.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def check_refused(argv: list, folder: Path, *mentions: str) -> str:
    """Assert the promise for ``argv``; each of ``mentions`` must appear in the message.
    Returns the message."""
    before = snapshot(folder)
    with no_tools(), private_tempdir() as temporaries:
        status, out, err = run(argv)
        left = sorted(p.name for p in temporaries.iterdir())
    lines = err.splitlines()
    assert status == 2, f"{argv}: exit status {status}, expected 2; stderr: {err!r}"
    assert len(lines) == 1 and lines[0].startswith("sparseloom: error: "), f"{argv}: not one error line: {err!r}"
    assert "Traceback" not in err, err
    for text in mentions:
        assert text in err, f"{argv}: the message does not mention {text!r}: {err!r}"
    assert snapshot(folder) == before, f"{argv}: {folder} changed"
    assert not left, f"{argv}: temporary files left: {left}"
    return lines[0]
