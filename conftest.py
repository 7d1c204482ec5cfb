"""pytest imports the ``__init__.py`` of every package folder on the way to a test by the folder's
name (``golden``, ``gen``, ``model``); those folders install as ``sparseloom.golden`` and so on.
Naming the installed packages under the folder names first means no file is loaded twice;
``sparseloom/tests/test_imports.py`` checks that every module has one copy."""
import importlib
import sys

for folder in ("gen", "golden", "model"):
    sys.modules.setdefault(folder, importlib.import_module(f"sparseloom.{folder}"))
