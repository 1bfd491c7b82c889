"""Results folders that cannot escape their parent, clobber another run's results or be lost.

- Every destination is resolved (symbolic links and ``..`` included) before it is checked, and is
  never the working folder, one of its parents, or a folder holding anything but pipeline-sim
  results.
- A fresh folder is *claimed*: created exclusively (``os.mkdir`` fails if it exists) and marked
  with an owner file naming this process, so two runs started at once never share a folder. An
  existing empty folder is claimed by creating the owner file exclusively.
- Nothing is deleted that the program did not create: only folders and files marked by an owner
  file whose process is gone, and earlier results replaced with ``--overwrite`` whose entries are
  all names pipeline-sim writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

#: a results folder's name: letters, digits, ``_``, ``-`` and ``.`` (not first), at most 100 long
SAFE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$"
_SAFE = re.compile(SAFE_NAME)

#: marks a folder (or a staging folder) as being written by a live process
OWNER_FILE = ".pipeline-sim-owner"

#: files whose presence says a folder holds pipeline-sim results
RESULT_MARKERS = ("manifest.json", "comparison.json", "sweep.json", "calibration.json")

#: the files of a run's results folder, the manifest last (a folder with a manifest is complete)
RUN_FILES = (
    "metrics.parquet",
    "events.parquet",
    "holders.parquet",
    "posts.parquet",
    "units.parquet",
    "bodies.parquet",
    "ranks.parquet",
    "scenario.toml",
    "summary.csv",
    "manifest.json",
)

#: every entry pipeline-sim writes in a results folder (folders map to the suffixes of their files);
#: a folder holding anything else is never replaced or removed
RESULT_FILES = {
    *RUN_FILES,
    "comparison.json",
    "sweep.json",
    "data.parquet",
    "outcomes.parquet",
    "differences.parquet",
    "experiments.parquet",
    "sensitivity.parquet",
    "report.html",
    "parameters.parquet",
    # a calibration's: its definition, Optuna journal (and the journal's lock while a trial is
    # recorded), trials, fit and calibrated scenario
    "calibration.json",
    "journal.log",
    "journal.log.lock",
    "targets.toml",
    "trials.parquet",
    "fit.parquet",
    "calibrated.toml",
    OWNER_FILE,
}
RESULT_DIRS = {"runs": (".parquet", ".tmp"), "scenarios": (".toml",)}


class FolderError(Exception):
    """A results folder cannot be used as asked; the message says why and what to do."""


def check_name(name: str, what: str = "name") -> str:
    if not _SAFE.match(name):
        raise FolderError(
            f"{what} {name!r}: a results folder name must be 1-100 letters, digits, '_', '-' or '.' "
            "(not first)"
        )
    return name


def folder_name(stem: str) -> str:
    """`stem` as a safe folder name: other characters become '_', and a long one is shortened
    with a hash of the whole so that different stems stay apart."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", stem).lstrip(".") or "results"
    if len(name) > 100:
        name = name[:91] + "-" + hashlib.sha1(stem.encode()).hexdigest()[:8]
    return name


def _working_folder_or_parent(path: Path) -> bool:
    cwd = Path.cwd().resolve()
    return path == cwd or path in cwd.parents


def resolve_out(out: Path) -> Path:
    """`out` made absolute with links and ``..`` resolved; never the working folder or its parents."""
    try:
        resolved = Path(os.path.abspath(out)).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise FolderError(f"{out}: not a usable folder path ({exc})") from None
    if _working_folder_or_parent(resolved) or resolved.parent == resolved:
        raise FolderError(f"{out}: is the working folder or contains it; choose a new folder for --out")
    return resolved


def foreign_entries(folder: Path) -> list[str]:
    """Entries of `folder` that pipeline-sim does not write (relative names)."""
    found = []
    for entry in folder.iterdir():
        if entry.is_symlink():
            found.append(entry.name)
        elif entry.is_dir():
            suffixes = RESULT_DIRS.get(entry.name)
            if suffixes is None:
                found.append(entry.name + "/")
                continue
            for sub in entry.iterdir():
                if sub.is_symlink() or not sub.is_file() or not sub.name.endswith(suffixes):
                    found.append(f"{entry.name}/{sub.name}")
        elif entry.name not in RESULT_FILES:
            found.append(entry.name)
    return sorted(found)


def holds_results(folder: Path) -> bool:
    return any((folder / marker).is_file() for marker in RESULT_MARKERS)


# --- owners -------------------------------------------------------------------------------------


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_ticks(os.getpid())}


def _alive(owner: dict) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # another machine's process: cannot tell, so assume it is alive
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _start_ticks(pid)
    return owner.get("start") is None or start is None or start == owner["start"]


def _owner(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _mark(folder: Path) -> None:
    """Create the owner file exclusively; FileExistsError if another process got there first."""
    fd = os.open(folder / OWNER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(_me(), fh)


def claimed_by_me(folder: Path) -> bool:
    owner = _owner(folder)
    return owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == _me()["host"]


def clean_stale(parent: Path) -> list[Path]:
    """Remove folders in `parent` that a pipeline-sim process created and left behind when it was
    killed (owner file of a process that is gone, nothing in it but what pipeline-sim writes)."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir() or not (entry / OWNER_FILE).is_file():
            continue
        owner = _owner(entry)
        if owner is None or _alive(owner) or foreign_entries(entry):
            continue
        # a complete folder whose owner died before dropping its mark is kept; a staging folder
        # (results never swapped in) is not
        if holds_results(entry) and not entry.name.startswith("."):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def spool_folder(prefix: str = "pipeline-sim-run-") -> Path:
    """A new temporary folder for a run's spooled tables, marked with this process; such folders
    of processes that are gone are removed first (a run killed before it finished)."""
    root = Path(tempfile.gettempdir())
    for entry in root.glob(prefix + "*"):
        owner = _owner(entry) if entry.is_dir() and not entry.is_symlink() else None
        if owner is None or _alive(owner):
            continue
        if all(f.is_file() and f.name.endswith((".parquet", OWNER_FILE)) for f in entry.iterdir()):
            shutil.rmtree(entry, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _mark(folder)
    return folder


# --- claiming -----------------------------------------------------------------------------------


def check_writable(folder: Path) -> None:
    """Fail unless a file can really be created in `folder`, by creating and removing one
    (permission bits alone do not tell, e.g. for root or on a read-only file system)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
    except OSError as exc:
        raise FolderError(f"{folder}: not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def _make_parent(out: Path) -> None:
    probe = out.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise FolderError(f"{out}: cannot create a folder there ({probe} is a file)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FolderError(f"{out}: cannot create the folder ({exc.strerror})") from None
    check_writable(out.parent)


#: folders this process created by claiming them (the others were empty folders it was given)
_created: set[Path] = set()


def try_claim(out: Path) -> bool:
    """Claim `out` for this process if it is new or empty; False if another process has it or it
    holds anything. The folder's parent must exist."""
    try:
        os.mkdir(out)
        _created.add(out)
    except FileExistsError:
        if not out.is_dir() or out.is_symlink():
            return False
        if claimed_by_me(out):
            return True
        try:
            _mark(out)
        except FileExistsError:
            return False
        if [e.name for e in out.iterdir()] != [OWNER_FILE]:  # it held something: not ours to use
            (out / OWNER_FILE).unlink(missing_ok=True)
            return False
        return True
    _mark(out)
    return True


def claim_fresh(parent: Path, name: str) -> Path:
    """Claim ``parent/name``, or ``name-2``, ``name-3``, ... : the first that is free, atomically."""
    check_name(name)
    parent = resolve_out(parent / "x").parent
    _make_parent(parent / name)
    clean_stale(parent)
    for i in range(1, 100_000):
        candidate = parent / (name if i == 1 else f"{name}-{i}")
        if candidate.resolve().parent != parent:
            raise FolderError(f"{candidate}: leaves {parent}")
        try:
            if try_claim(candidate):
                return candidate
        except OSError as exc:
            raise FolderError(f"{candidate}: cannot create the folder ({exc.strerror})") from None
    raise FolderError(f"{parent}: no free folder name for {name!r}")


def check_out(out: Path, overwrite: bool) -> Path:
    """Resolve `out` and fail early (before any run) if results cannot be written there.

    A folder that already holds results is only replaced with `overwrite`; a folder holding
    anything else, the working folder or one of its parents is never replaced.
    """
    target = resolve_out(out)
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise FolderError(f"{out}: exists and is not a folder")
        entries = [e.name for e in target.iterdir()]
        if entries and not claimed_by_me(target):
            owner = _owner(target)
            if owner is not None and _alive(owner):
                raise FolderError(
                    f"{out}: is being written by another pipeline-sim process (pid {owner['pid']})"
                )
            if not holds_results(target) or foreign_entries(target):
                raise FolderError(
                    f"{out}: holds other files (not pipeline-sim results); choose another --out"
                )
            if not overwrite:
                raise FolderError(
                    f"{out}: already holds results; choose another --out or pass --overwrite to replace them"
                )
    _make_parent(target)
    return target


def claim_out(out: Path, overwrite: bool) -> Path:
    """Check `out` and claim it now if it is new or empty (an existing results folder to be
    replaced is left in place until the new results are complete)."""
    target = check_out(out, overwrite)
    if not (target.exists() and holds_results(target)) and not try_claim(target):
        raise FolderError(f"{out}: was just taken by another process; choose another --out")
    return target


def release(folder: Path, written: tuple[str, ...] = ()) -> None:
    """Give up a claimed folder (an interrupted or failed run): remove the files this process
    wrote there (`written`), its mark, and the folder itself if this process created it."""
    if not claimed_by_me(folder):
        return
    for name in written:
        (folder / name).unlink(missing_ok=True)
    (folder / OWNER_FILE).unlink(missing_ok=True)
    if folder in _created:
        _created.discard(folder)
        with contextlib.suppress(OSError):  # something else arrived in it: keep it
            folder.rmdir()


def finish(folder: Path) -> None:
    """The folder is complete: drop the owner mark."""
    if claimed_by_me(folder):
        (folder / OWNER_FILE).unlink(missing_ok=True)


def staging(out: Path) -> Path:
    """A new hidden folder beside `out`, owned by this process, for results that will replace it."""
    while True:
        tmp = out.with_name(f".{out.name[:80]}.new-{secrets.token_hex(4)}")
        if try_claim(tmp):
            return tmp


def replace(new: Path, out: Path) -> None:
    """Put the finished folder `new` in place of the results folder `out`; the old results are
    set aside first and removed only once the new ones are in place, and only if everything in
    them is something pipeline-sim writes."""
    out = resolve_out(out)
    old = None
    if out.exists():
        if not holds_results(out) or foreign_entries(out):
            raise FolderError(f"{out}: holds other files (not pipeline-sim results); nothing was replaced")
        old = out.with_name(f".{out.name[:80]}.old-{secrets.token_hex(4)}")
        out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    finish(out)
    if old is not None:
        if foreign_entries(old):  # something arrived in the meantime: keep it all
            raise FolderError(f"{out}: replaced; the earlier results, with files added to them, are in {old}")
        shutil.rmtree(old, ignore_errors=True)
