"""Container images of the hermetic stack: which image each component runs, and offline builds.

Where no container registry answers, every image is built locally from
`healthgate/stack/dockerfiles/<name>/` on top of a `debian:bookworm-slim` base that is
bootstrapped from the machine's Debian mirror when it cannot be pulled.  Builds are cached by
content hash, so a second `build` of unchanged folders costs only a few `docker` calls.

    python -m healthgate.stack.images build [NAME...] [--force] [--verbose]
    python -m healthgate.stack.images list
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DOCKERFILES_DIR = Path(__file__).resolve().parent / "dockerfiles"
BASE_IMAGE = "debian:bookworm-slim"
DEBIAN_SUITE = "bookworm"
LOCAL_TAG = "offline"
ENV_PREFIX = "HEALTHGATE_IMAGE_"
HASH_LABEL = "org.healthgate.content-hash"

# Build order matters only for the log; names missing here are built after these, sorted.
IMAGE_NAMES = (
    "postgres",
    "redis",
    "prometheus",
    "alertmanager",
    "opensearch",
    "refapp",
    "postgres-exporter",
    "redis-exporter",
    "node-exporter",
    "otelcol",
)

# Pinned upstream images, used when nothing was built locally (e.g. on a machine with a registry).
# None: no upstream image exists, the component always runs its local build.
OFFICIAL_IMAGES: dict[str, str | None] = {
    "postgres": "postgres:15.13",
    "redis": "redis:7.2.5",
    "opensearch": "opensearchproject/opensearch:2.19.1",
    "prometheus": "prom/prometheus:v2.53.4",
    "alertmanager": "prom/alertmanager:v0.27.0",
    "refapp": None,
    # The exporters at the versions Debian 12 packages, so both sources expose the same series.
    "postgres-exporter": "quay.io/prometheuscommunity/postgres-exporter:v0.11.1",
    "redis-exporter": "oliver006/redis_exporter:v1.45.0",
    "node-exporter": "prom/node-exporter:v1.5.0",
    # The contrib distribution holds every component of the local build (healthgate/stack/dockerfiles/otelcol).
    "otelcol": "otel/opentelemetry-collector-contrib:0.165.0",
}
# Earlier content-hash builds kept per image: checkouts side by side (branches, worktrees) on one machine each
# keep their own build instead of pruning each other's at every `build`.
KEEP_BUILDS = 4

# Downloads and copied sources live in build/ (git-ignored); caches are not content either.
HASH_EXCLUDED_TOP_DIRS = frozenset({"build"})
HASH_EXCLUDED_DIRS = frozenset({"__pycache__"})

PULL_TIMEOUT_S = 20.0
INSPECT_TIMEOUT_S = 30.0
OUTPUT_TAIL_LINES = 40

APT_SOURCES_LIST = Path("/etc/apt/sources.list")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")

# Same intent as the upstream slim image: no docs, manuals or translations, no cached .debs.
_DPKG_SLIM_CONFIG = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
"""
_APT_CACHE_CLEANUP = (
    "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"
)
_APT_SLIM_CONFIG = f"""\
DPkg::Post-Invoke {{ "{_APT_CACHE_CLEANUP}"; }};
APT::Update::Post-Invoke {{ "{_APT_CACHE_CLEANUP}"; }};
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
"""
_SLIMMED_PATHS = (
    "usr/share/man",
    "usr/share/groff",
    "usr/share/info",
    "usr/share/lintian",
    "usr/share/linda",
    "usr/share/locale",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/log",
)


class ImageError(RuntimeError):
    """An image could not be resolved, bootstrapped or built; the message says what to do."""


@dataclass(frozen=True)
class BuildResult:
    name: str
    ref: str
    status: str  # built | cached | failed; for the base: present | pulled | built
    seconds: float
    size_mb: float | None = None
    detail: str = ""

    def line(self) -> str:
        size = f"{self.size_mb:8.1f} MB" if self.size_mb is not None else "       - MB"
        text = f"{self.name:<17} {self.ref:<42} {self.status:<7} {self.seconds:7.1f}s {size}"
        return f"{text}  {self.detail}" if self.detail else text


# --------------------------------------------------------------------------- resolution


def local_image_ref(name: str, tag: str = LOCAL_TAG) -> str:
    return f"healthgate/{name}:{tag}"


def env_var_for(name: str) -> str:
    return ENV_PREFIX + name.upper().replace("-", "_")


def resolve_image_source(name: str, image_exists: Callable[[str], bool] | None = None) -> tuple[str, str]:
    """Return (image reference, where it came from: env | local | official)."""
    override = os.environ.get(env_var_for(name), "").strip()
    if override:
        return override, "env"
    local = local_image_ref(name)
    if name in OFFICIAL_IMAGES:
        official = OFFICIAL_IMAGES[name]
    elif (DOCKERFILES_DIR / name / "Dockerfile").is_file():
        official = None
    else:
        known = ", ".join(sorted(OFFICIAL_IMAGES))
        raise ImageError(f"unknown stack image {name!r} (known: {known}); or set {env_var_for(name)}")
    exists = image_exists or docker_image_exists
    # The build of exactly this checkout's image folder first: another checkout on the same machine may have
    # moved the `offline` tag to its own, different build.
    checkout = checkout_image_ref(name)
    if checkout is not None and exists(checkout):
        return checkout, "local"
    if official is None:
        return local, "local"
    if exists(local):
        return local, "local"
    return official, "official"


def resolve_image(name: str, image_exists: Callable[[str], bool] | None = None) -> str:
    """Image a stack component runs: `HEALTHGATE_IMAGE_<NAME>`, else the local offline build,
    else the pinned official image (components without one always get the local reference)."""
    return resolve_image_source(name, image_exists)[0]


# --------------------------------------------------------------------------- docker helpers


def _docker(args: Sequence[str], timeout: float = INSPECT_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def image_id(ref: str) -> str | None:
    try:
        done = _docker(["image", "inspect", "--format", "{{.Id}}", ref])
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def docker_image_exists(ref: str) -> bool:
    return image_id(ref) is not None


def image_size_mb(ref: str) -> float | None:
    try:
        done = _docker(["image", "inspect", "--format", "{{.Size}}", ref])
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return int(done.stdout.strip()) / 1e6


def require_docker_daemon() -> None:
    hint = "start one with `dockerd &` (as root) or `.ci/setup`"
    if shutil.which("docker") is None:
        raise ImageError(f"no docker CLI on PATH: install docker.io, then {hint}")
    try:
        done = _docker(["version", "--format", "{{.Server.Version}}"])
    except subprocess.TimeoutExpired as exc:
        raise ImageError(f"no Docker daemon reachable (no answer in {exc.timeout}s): {hint}") from exc
    if done.returncode != 0:
        raise ImageError(f"no Docker daemon reachable ({done.stderr.strip()}): {hint}")


def _tail(lines: Sequence[str] | collections.deque[str], count: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(list(lines)[-count:])


def _run_streamed(
    command: Sequence[str], *, cwd: Path | None, log_path: Path, verbose: bool
) -> tuple[int, collections.deque[str]]:
    """Run a command, keep its full output in log_path and its tail in memory."""
    tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
    env = {**os.environ, "BUILDKIT_PROGRESS": "plain"}
    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            tail.append(line.rstrip("\n"))
            if verbose:
                print(f"  | {line}", end="", file=sys.stderr, flush=True)
        returncode = process.wait()
    return returncode, tail


# --------------------------------------------------------------------------- content hash


def iter_context_files(folder: Path) -> Iterator[Path]:
    """Files (and symlinks) of an image folder that define the image, in a stable order."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        at_top = Path(root) == folder
        dirs[:] = [d for d in dirs if d not in HASH_EXCLUDED_DIRS and not (at_top and d in HASH_EXCLUDED_TOP_DIRS)]
        # A symlink to a directory is listed in dirs but not walked; the link itself is content.
        found.extend(Path(root, d) for d in dirs if Path(root, d).is_symlink())
        found.extend(Path(root, f) for f in files)
    yield from sorted(found, key=lambda p: p.relative_to(folder).as_posix())


EXTRA_INPUTS_FILE = "extra-inputs"


def extra_input_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """Sources outside the folder that ``prepare.sh`` copies in (listed one relative path a line in
    ``extra-inputs``): they are part of the image, so they are part of its hash."""
    listing = folder / EXTRA_INPUTS_FILE
    if not listing.is_file():
        return
    for line in listing.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        source = (folder / line).resolve()
        files = [source] if source.is_file() else [
            p for p in sorted(source.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
        ]
        for path in files:
            yield f"extra/{line}/{path.relative_to(source).as_posix() if path != source else ''}", path


def uses_base_image(folder: Path) -> bool:
    """Whether the folder's Dockerfile builds on the stack's base image (the collector's starts FROM scratch)."""
    dockerfile = folder / "Dockerfile"
    if not dockerfile.is_file():
        return False
    lines = dockerfile.read_text(encoding="utf-8", errors="replace").splitlines()
    return any(line.split()[:1] == ["FROM"] and BASE_IMAGE in line.split() for line in lines)


def checkout_image_ref(name: str, base_image_id: str | None = None) -> str | None:
    """The content-hash tag `build` gives this checkout's image folder as it is now; None when the folder is
    missing or the base image (part of the hash) is not on this machine."""
    folder = DOCKERFILES_DIR / name
    if not (folder / "Dockerfile").is_file():
        return None
    if not uses_base_image(folder):
        base = ""
    else:
        base = base_image_id if base_image_id is not None else (image_id(BASE_IMAGE) or "")
        if not base:
            return None
    return local_image_ref(name, content_hash(folder, base)[:12])


def content_hash(folder: Path, base_image_id: str) -> str:
    """sha256 over the folder's files (path, executable bit, bytes) except build/, plus the files it lists in
    ``extra-inputs``, plus the base id (empty for an image that does not build on the base)."""
    digest = hashlib.sha256()
    digest.update(f"base\0{base_image_id}\0".encode())
    entries = [(path.relative_to(folder).as_posix(), path) for path in iter_context_files(folder)]
    entries += list(extra_input_files(folder))
    for relative, path in entries:
        if path.is_symlink():
            digest.update(f"link\0{relative}\0{os.readlink(path)}\0".encode())
            continue
        executable = "x" if path.stat().st_mode & 0o111 else "-"
        digest.update(f"file\0{relative}\0{executable}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- base image


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
            continue
        if raw[0] in " \t" and key:
            stanza[key] += " " + raw.strip()
            continue
        name, _, value = raw.partition(":")
        key = name.strip().lower()
        stanza[key] = value.strip()
    if stanza:
        yield stanza


def _mirror_from_deb822(text: str, suite: str) -> str | None:
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        if (
            "deb" in stanza.get("types", "").split()
            and suite in stanza.get("suites", "").split()
            and "main" in stanza.get("components", "").split()
            and stanza.get("uris", "").split()
        ):
            return stanza["uris"].split()[0]
    return None


def _mirror_from_one_line(text: str, suite: str) -> str | None:
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 3 and words[1] == suite and "main" in words[2:]:
            return words[0]
    return None


def find_debian_mirror(
    sources_dir: Path = APT_SOURCES_DIR,
    sources_list: Path = APT_SOURCES_LIST,
    suite: str = DEBIAN_SUITE,
) -> str:
    """The machine's own mirror for `<suite> main`: the only host debootstrap may use here."""
    for path in sorted(sources_dir.glob("*.sources")):
        mirror = _mirror_from_deb822(path.read_text(encoding="utf-8", errors="replace"), suite)
        if mirror:
            return mirror
    for path in [sources_list, *sorted(sources_dir.glob("*.list"))]:
        if path.is_file():
            mirror = _mirror_from_one_line(path.read_text(encoding="utf-8", errors="replace"), suite)
            if mirror:
                return mirror
    raise ImageError(
        f"no apt source for '{suite} main' in {sources_list} or {sources_dir}/*.sources|*.list: "
        f"cannot bootstrap {BASE_IMAGE}"
    )


def _mounts_below(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    try:
        lines = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    points = [line.split()[1] for line in lines if len(line.split()) > 1]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def _remove_rootfs(workdir: Path) -> None:
    # An interrupted debootstrap leaves /proc and /sys mounted inside the rootfs; deleting
    # through such a mount would reach the host's files.
    for point in _mounts_below(workdir):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    if _mounts_below(workdir):
        raise ImageError(f"left {workdir} in place: something is still mounted below it")
    shutil.rmtree(workdir, ignore_errors=True)


def _slim_rootfs(rootfs: Path) -> None:
    for relative in _SLIMMED_PATHS:
        target = rootfs / relative
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    doc = rootfs / "usr/share/doc"
    if doc.is_dir():
        for path in doc.rglob("*"):
            if path.is_file() and path.name != "copyright":
                path.unlink()
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/healthgate-slim").write_text(_DPKG_SLIM_CONFIG, encoding="utf-8")
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(_APT_SLIM_CONFIG, encoding="utf-8")


def _import_rootfs(rootfs: Path, ref: str) -> None:
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        done = subprocess.run(
            [
                "docker",
                "import",
                "--change",
                'CMD ["bash"]',
                "--change",
                "LABEL org.healthgate.origin=debootstrap",
                "-",
                ref,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar_rc = tar.wait()
    if tar_rc != 0 or done.returncode != 0:
        raise ImageError(f"docker import of {rootfs} failed (tar rc={tar_rc}): {done.stderr.strip()}")


def bootstrap_base_image(ref: str = BASE_IMAGE, suite: str = DEBIAN_SUITE, verbose: bool = False) -> None:
    """Make the base image from scratch with debootstrap (needs root and the Debian mirror)."""
    if shutil.which("debootstrap") is None:
        raise ImageError(f"{ref} is not available and debootstrap is missing: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise ImageError(f"{ref} is not available and debootstrap needs root: run the build as root")
    mirror = find_debian_mirror(suite=suite)
    workdir = Path(tempfile.mkdtemp(prefix="healthgate-rootfs-"))
    rootfs = workdir / "rootfs"
    try:
        log_path = workdir / "debootstrap.log"
        command = ["debootstrap", "--variant=minbase", suite, str(rootfs), mirror]
        returncode, tail = _run_streamed(command, cwd=None, log_path=log_path, verbose=verbose)
        if returncode != 0:
            raise ImageError(f"{' '.join(command)} failed (rc={returncode}):\n{_tail(tail)}")
        _slim_rootfs(rootfs)
        _import_rootfs(rootfs, ref)
    finally:
        _remove_rootfs(workdir)


def _try_pull(ref: str) -> bool:
    try:
        return _docker(["pull", ref], timeout=PULL_TIMEOUT_S).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def ensure_base_image(verbose: bool = False) -> BuildResult:
    started = time.monotonic()
    if docker_image_exists(BASE_IMAGE):
        status = "present"
    elif _try_pull(BASE_IMAGE):
        status = "pulled"
    else:
        bootstrap_base_image(verbose=verbose)
        status = "built"
    return BuildResult("base", BASE_IMAGE, status, time.monotonic() - started, image_size_mb(BASE_IMAGE))


# --------------------------------------------------------------------------- image builds


def buildable_names() -> list[str]:
    """Every image folder with a Dockerfile, in the stack's order."""
    present = {p.name for p in DOCKERFILES_DIR.iterdir() if p.is_dir() and (p / "Dockerfile").is_file()}
    ordered = [n for n in IMAGE_NAMES if n in present]
    return ordered + sorted(present - set(ordered))


def _log_path(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"healthgate-image-{name}.log"


def _run_prepare(folder: Path, verbose: bool) -> None:
    script = folder / "prepare.sh"
    if not script.is_file():
        return
    command = [str(script)] if os.access(script, os.X_OK) else ["bash", str(script)]
    command.append(str(folder))
    log_path = _log_path(f"{folder.name}-prepare")
    returncode, tail = _run_streamed(command, cwd=folder, log_path=log_path, verbose=verbose)
    if returncode != 0:
        raise ImageError(f"{script} failed (rc={returncode}), full log {log_path}:\n{_tail(tail)}")


def _prune_stale_builds(name: str, keep_tag: str, keep: int = KEEP_BUILDS) -> None:
    """Untag earlier content-hash builds of an image beyond the newest ``keep``, so the cache does not grow
    without bound while checkouts side by side keep theirs.

    Images still used by a container are left alone (`docker rmi` refuses them without -f)."""
    try:
        listing = _docker(["image", "ls", f"healthgate/{name}", "--format", "{{.CreatedAt}}\t{{.Tag}}"])
    except (OSError, subprocess.TimeoutExpired):
        return
    builds = []
    for line in listing.stdout.splitlines():
        created, _, tag = line.rpartition("\t")
        if tag != keep_tag and len(tag) == 12 and all(c in "0123456789abcdef" for c in tag):
            builds.append((created, tag))
    # CreatedAt reads "2026-12-01 22:00:00 +0000 UTC": it sorts as text. The current build counts as one kept.
    builds.sort(reverse=True)
    stale = [local_image_ref(name, tag) for _, tag in builds[max(keep - 1, 0):]]
    if stale:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            _docker(["rmi", *stale])


def build_image(name: str, base_image_id: str, force: bool = False, verbose: bool = False) -> BuildResult:
    folder = DOCKERFILES_DIR / name
    if not (folder / "Dockerfile").is_file():
        raise ImageError(f"no Dockerfile in {folder}")
    started = time.monotonic()
    digest = content_hash(folder, base_image_id if uses_base_image(folder) else "")
    hashed_ref = local_image_ref(name, digest[:12])
    if not force and docker_image_exists(hashed_ref):
        _docker(["tag", hashed_ref, local_image_ref(name)])
        status = "cached"
    else:
        _run_prepare(folder, verbose)
        log_path = _log_path(name)
        command = [
            "docker",
            "build",
            "--network",
            "host",
            "--label",
            f"{HASH_LABEL}={digest}",
            "-t",
            hashed_ref,
            "-t",
            local_image_ref(name),
            str(folder),
        ]
        returncode, tail = _run_streamed(command, cwd=folder, log_path=log_path, verbose=verbose)
        if returncode != 0:
            raise ImageError(f"docker build of {name} failed (rc={returncode}), full log {log_path}:\n{_tail(tail)}")
        status = "built"
    _prune_stale_builds(name, digest[:12])
    return BuildResult(name, hashed_ref, status, time.monotonic() - started, image_size_mb(hashed_ref))


def build_images(names: Sequence[str], force: bool = False, verbose: bool = False) -> int:
    """Build the named images (all buildable ones when empty); return a process exit code."""
    require_docker_daemon()
    unknown = [n for n in names if not (DOCKERFILES_DIR / n).is_dir()]
    if unknown:
        raise ImageError(f"no image folder for {', '.join(unknown)} under {DOCKERFILES_DIR}")
    selected = list(names) or buildable_names()
    base = ensure_base_image(verbose)
    print(base.line(), flush=True)
    base_id = image_id(BASE_IMAGE)
    if base_id is None:
        raise ImageError(f"{BASE_IMAGE} vanished right after it was ensured")
    failures = 0
    for name in selected:
        started = time.monotonic()
        try:
            result = build_image(name, base_id, force=force, verbose=verbose)
        except ImageError as exc:
            failures += 1
            result = BuildResult(name, local_image_ref(name), "failed", time.monotonic() - started)
            print(result.line(), flush=True)
            print(str(exc), file=sys.stderr, flush=True)
            continue
        print(result.line(), flush=True)
    return 1 if failures else 0


def list_images() -> int:
    names = list(dict.fromkeys([*IMAGE_NAMES, *buildable_names()]))
    for name in names:
        ref, source = resolve_image_source(name)
        present = "present" if docker_image_exists(ref) else "absent"
        print(f"{name:<17} {ref:<48} {source:<9} {present}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m healthgate.stack.images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build offline images (all when no NAME)")
    build.add_argument("names", nargs="*", metavar="NAME")
    build.add_argument("--force", action="store_true", help="rebuild even when the content hash is cached")
    build.add_argument("--verbose", "-v", action="store_true", help="stream docker and debootstrap output")
    commands.add_parser("list", help="print the image each component resolves to")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return build_images(args.names, force=args.force, verbose=args.verbose)
        return list_images()
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
