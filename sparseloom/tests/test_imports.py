"""One import path: every module of the project is loaded once, under its ``sparseloom.*`` name.

pytest imports every collected test module before it runs any test, so by the time this test
runs the suite's imports have all happened; it also imports every module of the package.
A test or bench that imported ``golden.hss`` (a relative or path-based import) would load a
second copy beside ``sparseloom.golden.hss``, whose classes ``isinstance`` would not recognise.
"""
import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def project_file(module) -> Path | None:
    path = getattr(module, "__file__", None)
    if not path or not Path(path).is_absolute():   # torch's ops and classes name a bare "_ops.py"
        return None
    path = Path(path).resolve()
    if not path.is_relative_to(ROOT) or path.is_relative_to(ROOT / ".venv") or path.is_relative_to(ROOT / "build"):
        return None
    return path


def test_each_module_is_loaded_once_under_its_installed_name():
    for root in ("sparseloom", "sparseloom.gen", "sparseloom.golden", "sparseloom.fpga", "sparseloom.model",
                 "sparseloom.testbenches"):
        for info in pkgutil.walk_packages(importlib.import_module(root).__path__, f"{root}."):
            # the models need the optional extra; __main__ would run the command line
            if not info.name.startswith("sparseloom.models.") and not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    copies: dict[Path, dict[int, list[str]]] = {}  # file -> the names of each distinct module object
    for name, module in sorted(sys.modules.items()):
        path = project_file(module)
        if path is not None:
            copies.setdefault(path, {}).setdefault(id(module), []).append(name)
    assert len(copies) > 60, "the project's modules should all be loaded by now"
    twice = {str(path.relative_to(ROOT)): sorted(map(tuple, n.values())) for path, n in copies.items() if len(n) > 1}
    assert not twice, f"modules loaded twice: {twice}"
    outside = {str(path.relative_to(ROOT)): names for path, n in copies.items() for names in n.values()
               if not any(name.startswith("sparseloom") for name in names)
               and not path.name.startswith(("test_", "conftest"))}
    assert not outside, f"modules loaded outside the sparseloom package: {outside}"


def test_golden_modules_are_the_ones_the_generators_use():
    from sparseloom.gen.highlight import plan
    from sparseloom.golden import hss

    assert plan.hss is hss and sys.modules["sparseloom.golden.hss"] is hss
    assert isinstance(hss.HSSPattern.parse("2:4,2:4"), sys.modules["sparseloom.golden.hss"].HSSPattern)
