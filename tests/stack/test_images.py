"""Image resolution order, content hashing and mirror discovery: no Docker daemon needed."""

from __future__ import annotations

import collections
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from healthgate.stack import images

BASE_ID = "sha256:" + "0" * 64


def make_folder(root: Path) -> Path:
    folder = root / "svc"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    (folder / "entrypoint.sh").write_text('#!/bin/sh\nexec "$@"\n')
    (folder / "entrypoint.sh").chmod(0o755)
    (folder / "conf").mkdir()
    (folder / "conf" / "app.yml").write_text("a: 1\n")
    return folder


# --------------------------------------------------------------------------- content hash


def test_hash_is_stable_and_ignores_build_and_caches(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    first = images.content_hash(folder, BASE_ID)
    (folder / "build").mkdir()
    (folder / "build" / "big.jar").write_bytes(b"downloaded")
    (folder / "conf" / "__pycache__").mkdir()
    (folder / "conf" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    assert images.content_hash(folder, BASE_ID) == first
    assert len(first) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda f: (f / "conf" / "app.yml").write_text("a: 2\n"),
        lambda f: (f / "conf" / "new.yml").write_text(""),
        lambda f: (f / "entrypoint.sh").chmod(0o644),
        lambda f: (f / "conf" / "app.yml").rename(f / "conf" / "renamed.yml"),
        lambda f: (f / "conf" / "build").mkdir() or (f / "conf" / "build" / "x").write_text("x"),
    ],
    ids=["content", "new-file", "exec-bit", "rename", "nested-build-dir"],
)
def test_hash_changes_with_the_image_definition(tmp_path: Path, change: Callable[[Path], object]) -> None:
    folder = make_folder(tmp_path)
    before = images.content_hash(folder, BASE_ID)
    change(folder)
    assert images.content_hash(folder, BASE_ID) != before


def test_hash_changes_with_the_base_image(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    assert images.content_hash(folder, BASE_ID) != images.content_hash(folder, "sha256:" + "1" * 64)


def test_hash_does_not_depend_on_location(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one, other = make_folder(tmp_path / "a"), make_folder(tmp_path / "b")
    assert images.content_hash(one, BASE_ID) == images.content_hash(other, BASE_ID)


# --------------------------------------------------------------------------- resolution


def test_env_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHGATE_IMAGE_POSTGRES", "registry.example/pg:15")
    assert images.resolve_image("postgres", image_exists=lambda ref: True) == "registry.example/pg:15"
    assert images.resolve_image_source("postgres", image_exists=lambda ref: True)[1] == "env"


def test_local_build_before_official(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALTHGATE_IMAGE_REDIS", raising=False)
    monkeypatch.setattr(images, "checkout_image_ref", lambda name: f"healthgate/{name}:0123456789ab")
    asked: list[str] = []

    def exists(ref: str) -> bool:
        asked.append(ref)
        return ref.endswith(":offline")

    assert images.resolve_image("redis", image_exists=exists) == "healthgate/redis:offline"
    assert asked == ["healthgate/redis:0123456789ab", "healthgate/redis:offline"]


def test_this_checkout_s_build_before_the_offline_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another checkout on the machine may have moved `offline` to its own build of a different definition."""
    monkeypatch.delenv("HEALTHGATE_IMAGE_REFAPP", raising=False)
    monkeypatch.setattr(images, "checkout_image_ref", lambda name: f"healthgate/{name}:0123456789ab")
    assert images.resolve_image("refapp", image_exists=lambda ref: True) == "healthgate/refapp:0123456789ab"
    assert images.resolve_image_source("refapp", image_exists=lambda ref: True)[1] == "local"


def test_checkout_ref_is_the_tag_build_gives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    monkeypatch.setattr(images, "DOCKERFILES_DIR", tmp_path)
    tag = images.content_hash(folder, BASE_ID)[:12]
    assert images.checkout_image_ref("svc", BASE_ID) == f"healthgate/svc:{tag}"
    assert images.checkout_image_ref("svc", "") is None  # base image absent: no build can exist yet
    assert images.checkout_image_ref("nope", BASE_ID) is None


def test_an_image_from_scratch_does_not_hash_the_base(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The collector's image has no base: a re-bootstrapped Debian base must not rebuild it."""
    folder = make_folder(tmp_path)
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY build/dist/otelcol /otelcol\n")
    monkeypatch.setattr(images, "DOCKERFILES_DIR", tmp_path)
    assert not images.uses_base_image(folder)
    assert images.checkout_image_ref("svc", BASE_ID) == images.checkout_image_ref("svc", "sha256:" + "1" * 64)
    real = Path(images.__file__).resolve().parent / "dockerfiles"
    assert images.uses_base_image(real / "postgres") and not images.uses_base_image(real / "otelcol")


def test_collector_image_hash_covers_its_manifest_and_build_script(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    """A warm run reuses the collector image only while what builds the binary is unchanged."""
    import shutil

    real = Path(images.__file__).resolve().parent / "dockerfiles" / "otelcol"
    folder = tmp_path / "otelcol"
    shutil.copytree(real, folder, ignore=shutil.ignore_patterns("build"))
    before = images.content_hash(folder, "")
    (folder / "build" / "dist").mkdir(parents=True)
    (folder / "build" / "dist" / "otelcol-healthgate").write_bytes(b"binary")
    assert images.content_hash(folder, "") == before  # the binary is made from the hashed files
    for name in ("manifest.yaml", "prepare.sh", "Dockerfile"):
        path = folder / name
        original = path.read_text()
        path.write_text(original + "\n# changed\n")
        assert images.content_hash(folder, "") != before, name
        path.write_text(original)


def test_official_when_nothing_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALTHGATE_IMAGE_PROMETHEUS", raising=False)
    ref = images.resolve_image("prometheus", image_exists=lambda ref: False)
    assert ref == images.OFFICIAL_IMAGES["prometheus"]
    assert ref is not None and ref.startswith("prom/prometheus:v2.")


def test_refapp_is_always_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALTHGATE_IMAGE_REFAPP", raising=False)
    assert images.resolve_image("refapp", image_exists=lambda ref: False) == "healthgate/refapp:offline"


def test_empty_env_value_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHGATE_IMAGE_ALERTMANAGER", "  ")
    assert images.resolve_image("alertmanager", image_exists=lambda ref: False).startswith("prom/alertmanager:")


def test_unknown_name_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALTHGATE_IMAGE_NOPE", raising=False)
    with pytest.raises(images.ImageError, match="HEALTHGATE_IMAGE_NOPE"):
        images.resolve_image("nope", image_exists=lambda ref: False)


def test_every_official_image_is_pinned() -> None:
    for name, ref in images.OFFICIAL_IMAGES.items():
        if ref is not None:
            assert ":" in ref and not ref.endswith(":latest"), name


# --------------------------------------------------------------------------- mirror


DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "security-first.sources").write_text(DEB822.split("\n\n")[1])
    (tmp_path / "debian.sources").write_text(DEB822)
    mirror = images.find_debian_mirror(tmp_path, tmp_path / "missing.list")
    assert mirror == "http://mirror.invalid/debian"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    listing = tmp_path / "sources.list"
    listing.write_text(
        "# deb http://commented.invalid/debian bookworm main\n"
        "deb-src http://src.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.invalid/debian bookworm main contrib\n"
    )
    assert images.find_debian_mirror(tmp_path, listing) == "http://one.invalid/debian"


def test_disabled_stanza_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.sources").write_text("Enabled: no\n" + DEB822)
    listing = tmp_path / "sources.list"
    listing.write_text("deb http://fallback.invalid/debian bookworm main\n")
    assert images.find_debian_mirror(tmp_path, listing) == "http://fallback.invalid/debian"


def test_no_mirror_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(images.ImageError, match="bookworm main"):
        images.find_debian_mirror(tmp_path, tmp_path / "sources.list")


# --------------------------------------------------------------------------- build cache


class FakeDocker:
    def __init__(self, present: set[str] | list[str]) -> None:
        self.present = list(present)
        self.commands: list[list[str]] = []

    def run_streamed(
        self, command: Sequence[str], *, cwd: Path | None, log_path: Path, verbose: bool
    ) -> tuple[int, collections.deque[str]]:
        self.commands.append(list(command))
        return 0, collections.deque()

    def docker(self, args: Sequence[str], timeout: float = 0) -> subprocess.CompletedProcess[str]:
        self.commands.append(["docker", *args])
        # CreatedAt in the order the refs were added, oldest first.
        listing = "\n".join(f"2026-12-01 10:{i:02d}:00 +0000 UTC\t{ref.split(':')[1]}"
                            for i, ref in enumerate(self.present)) if args[:2] == ["image", "ls"] else ""
        return subprocess.CompletedProcess(["docker", *args], 0, stdout=listing, stderr="")


def patch_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, present: set[str] | list[str]) -> FakeDocker:
    fake = FakeDocker(present)
    monkeypatch.setattr(images, "DOCKERFILES_DIR", tmp_path)
    monkeypatch.setattr(images, "_run_streamed", fake.run_streamed)
    monkeypatch.setattr(images, "_docker", fake.docker)
    monkeypatch.setattr(images, "docker_image_exists", lambda ref: ref in fake.present)
    monkeypatch.setattr(images, "image_size_mb", lambda ref: 1.0)
    return fake


def test_cached_image_skips_prepare_and_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    (folder / "prepare.sh").write_text("exit 1\n")
    tag = images.content_hash(folder, BASE_ID)[:12]
    # Four earlier builds, oldest first: the newest three stay with the current one (KEEP_BUILDS = 4).
    earlier = [f"healthgate/svc:{n}123456789ab" for n in "0123"]
    present = [*earlier, f"healthgate/svc:{tag}", "healthgate/svc:offline"]
    fake = patch_docker(monkeypatch, tmp_path, present)
    result = images.build_image("svc", BASE_ID)
    assert (result.status, result.ref) == ("cached", f"healthgate/svc:{tag}")
    assert fake.commands == [
        ["docker", "tag", f"healthgate/svc:{tag}", "healthgate/svc:offline"],
        ["docker", "image", "ls", "healthgate/svc", "--format", "{{.CreatedAt}}\t{{.Tag}}"],
        ["docker", "rmi", earlier[0]],
    ]


def test_missing_image_runs_prepare_then_builds_on_host_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path)
    (folder / "prepare.sh").write_text("true\n")
    fake = patch_docker(monkeypatch, tmp_path, set())
    result = images.build_image("svc", BASE_ID)
    prepare, build = fake.commands[:2]
    assert result.status == "built"
    assert prepare == ["bash", str(folder / "prepare.sh"), str(folder)]
    assert build[:4] == ["docker", "build", "--network", "host"]
    assert result.ref in build and "healthgate/svc:offline" in build and build[-1] == str(folder)


def test_buildable_names_follow_stack_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("zeta", "redis", "postgres", "opensearch"):
        (tmp_path / name).mkdir()
        if name != "opensearch":
            (tmp_path / name / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setattr(images, "DOCKERFILES_DIR", tmp_path)
    assert images.buildable_names() == ["postgres", "redis", "zeta"]
