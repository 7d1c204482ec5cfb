"""The user's files in, a command's files out, with the command line's promise kept.

Every input file is read and checked before any work starts (``load_matrix``); every
output is checked writable before any work starts and all of a command's outputs are
written together at the end (``Outputs``): they all appear, or none does, an existing file
is never replaced by a failed run, and no temporary file survives an error or Ctrl-C.
A bad argument or file is a ``UsageError``: one line naming the file or parameter, exit
status 2. Every subcommand builds on these.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


#: The process umask (read once: setting it is the only way to read it).
UMASK = os.umask(0)
os.umask(UMASK)

#: Longest file name written (NAME_MAX of common file systems, less the temporary suffix).
MAX_NAME = 200


class UsageError(Exception):
    """A bad argument or input file; printed as one line, exit status 2."""


def load_matrix(path: str, flag: str) -> np.ndarray:
    """The non-empty 2-D array in the ``.npy`` file ``path`` given as ``flag``."""
    p = Path(path)
    try:
        is_dir, is_file = p.is_dir(), p.is_file()
    except OSError as e:  # a name too long, say
        raise UsageError(f"{flag}: cannot read {path!r}: {e.strerror}") from None
    if is_dir:
        raise UsageError(f"{flag}: {path!r} is a folder, not a .npy file")
    if not is_file:
        raise UsageError(f"{flag}: no such file {path!r}")
    try:
        a = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        reason = "an empty file" if p.stat().st_size == 0 else f"{type(e).__name__}: {e}".splitlines()[0]
        raise UsageError(f"{flag}: {path!r} is not a .npy array file ({reason})") from None
    if not isinstance(a, np.ndarray):  # np.load gives an NpzFile for .npz archives
        raise UsageError(f"{flag}: {path!r} is a .npz archive; give one .npy array")
    if a.ndim != 2:
        raise UsageError(f"{flag}: {path!r} must hold a 2-D matrix, got shape {a.shape}")
    if a.size == 0:
        raise UsageError(f"{flag}: {path!r} holds an empty matrix (shape {a.shape}); both sides must be >= 1")
    return a


def _nearest_existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def check_folder(path: Path, flag: str) -> None:
    """Refuse a folder that cannot be written or created (a file in its place, no permission)."""
    if any(len(part) > MAX_NAME for part in path.parts):
        raise UsageError(f"{flag}: a name in {str(path)[:60]!r}... is longer than {MAX_NAME} characters")
    existing = _nearest_existing(path.absolute())
    if existing == path.absolute() and not existing.is_dir():
        raise UsageError(f"{flag}: {str(path)!r} is a file; give a folder")
    if not existing.is_dir():
        raise UsageError(f"{flag}: cannot create {str(path)!r}: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: the folder {str(existing)!r} is not writable")
    try:  # permissions are not the whole story (read-only or full file systems, immutable folders)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UsageError(f"{flag}: cannot write in {str(existing)!r}: {e.strerror}") from None


class Outputs:
    """The files one command writes, each named by the flag that chose it.

    ``add`` checks a file can be written (before any work); ``write`` stages every file
    under a temporary name beside its target and renames them all only once every one is
    complete. On any error or interruption the temporary files, and the folders ``write``
    created, are removed and existing files keep their contents.
    """

    def __init__(self):
        self._flags: dict[Path, str] = {}   # absolute path -> flag

    def add(self, path, flag: str) -> Path:
        path = Path(path)
        if path.absolute() in self._flags:
            raise UsageError(f"{flag} and {self._flags[path.absolute()]} name the same file {str(path)!r}")
        if any(len(part) > MAX_NAME for part in path.parts):
            raise UsageError(f"{flag}: a name in {str(path)[:60]!r}... is longer than {MAX_NAME} characters")
        if path.is_dir():
            raise UsageError(f"{flag}: {str(path)!r} is a folder; give a file name")
        if path.exists() and not os.access(path, os.W_OK):
            raise UsageError(f"{flag}: {str(path)!r} is not writable")
        parent = path.parent
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"{flag}: cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder")
        check_folder(parent, flag)
        self._flags[path.absolute()] = flag
        return path

    def write(self, contents: dict) -> None:
        """Write ``contents[path]`` (str, bytes, a NumPy array, or a Path to copy) for every added path."""
        contents = {Path(p).absolute(): c for p, c in contents.items()}
        if set(contents) != set(self._flags):
            raise ValueError(f"contents for {sorted(map(str, contents))}, outputs {sorted(map(str, self._flags))}")
        staged: list[tuple[Path, Path]] = []
        created: list[Path] = []
        try:
            for path, content in contents.items():
                created += _make_folders(path.parent)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:MAX_NAME]}.", suffix=".tmp")
                staged.append((Path(tmp), path))
                with os.fdopen(fd, "wb") as f:
                    f.write(_bytes(content))
                os.chmod(tmp, 0o666 & ~UMASK)   # mkstemp makes it 0600; an output gets the usual mode
            for tmp, path in staged:
                os.replace(tmp, path)
        except OSError as e:
            raise UsageError(f"{self._flags[path]}: cannot write {str(path)!r}: {e.strerror or e}") from None
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            if any(not path.exists() for _, path in staged):
                for folder in reversed(created):
                    _remove_empty(folder)


def _bytes(content) -> bytes:
    if isinstance(content, np.ndarray):
        with tempfile.SpooledTemporaryFile() as buf:
            np.save(buf, content)
            buf.seek(0)
            return buf.read()
    if isinstance(content, Path):
        return content.read_bytes()
    return content.encode() if isinstance(content, str) else bytes(content)


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir()
    return list(reversed(missing))


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
