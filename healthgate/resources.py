"""Where the suite's own files are (checks, runbooks, profiles), wherever pytest is started from.

A deploy pipeline runs the gate from the application's repository, not from this checkout: the checks, the
runbook pages a failure attaches and the built-in profiles are then found next to the installed package (an
editable install, or a copy of the source tree such as the Docker example's), not in the current directory.
"""

from __future__ import annotations

from pathlib import Path

import healthgate


def source_root() -> Path | None:
    """The source tree the package runs from: the directory holding ``healthgate/`` and ``checks/``."""
    root = Path(healthgate.__file__).resolve().parent.parent
    return root if (root / "checks" / "__init__.py").is_file() else None


def checks_dir() -> Path | None:
    root = source_root()
    return root / "checks" if root is not None else None


def runbooks_dir(rootpath: Path) -> Path:
    """The runbook pages: this run's root directory's when it has them, else the suite's own."""
    local = rootpath / "docs" / "runbooks"
    root = source_root()
    return local if local.is_dir() or root is None else root / "docs" / "runbooks"


def profile_dirs(rootpath: Path) -> list[Path]:
    """Where a profile given by name is looked for: the run's root directory, then the suite's own profiles."""
    dirs = [rootpath / "profiles"]
    root = source_root()
    if root is not None and (root / "profiles") not in dirs:
        dirs.append(root / "profiles")
    return dirs
