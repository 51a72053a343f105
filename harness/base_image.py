"""The offline base image: a Debian bookworm root filesystem bootstrapped with mmdebstrap from
the host's own apt sources, imported with `docker import` as `raft-jepsen-base:bookworm-<hash>`.

No registry is needed: only the Debian mirror the host already uses. The tag hashes what
decides the root filesystem's content (release, variant, package list), so an unchanged list
reuses the imported image."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker

from raft_jepsen.harness import apt_sources
from raft_jepsen.harness.errors import EnvironmentProblem

REPOSITORY = "raft-jepsen-base"
# `apt` = Essential packages + apt: the smallest variant that can still install the list.
VARIANT = "apt"
# Documentation and translations are a third of a minimal root filesystem and never read.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
)
# mmdebstrap runs apt with a configuration of its own; these host settings decide whether the
# host's mirror can be reached at all (a proxy, a snapshot mirror's old Release files).
FORWARDED_APT_OPTIONS = re.compile(r"^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date)\b")


def base_tag(packages: list[str]) -> str:
    recipe = "\n".join([apt_sources.RELEASE, VARIANT, *DPKG_OPTIONS, *sorted(packages)])
    return f"{REPOSITORY}:{apt_sources.RELEASE}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_base(
    client: docker.DockerClient, packages: list[str], *, force: bool, progress: Callable[[str], None]
) -> str:
    """The tag of the bootstrapped base image, bootstrapping it first when missing (or `force`)."""
    tag = base_tag(packages)
    if not force and client.images.list(name=tag):
        progress(f"base image {tag} present")
        return tag
    mmdebstrap = _mmdebstrap(progress)
    sources = apt_sources.host_sources()
    progress(f"bootstrapping Debian {apt_sources.RELEASE} with mmdebstrap from the host's apt sources:")
    for source in sources:
        progress(f"  {source.one_line()}")
    with tempfile.TemporaryDirectory(prefix="raft-jepsen-base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        command = [
            mmdebstrap,
            f"--variant={VARIANT}",
            f"--include={','.join(packages)}",
            *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
            *(f"--aptopt={option}" for option in forwarded_apt_options(_apt_config_dump())),
            apt_sources.RELEASE,
            str(rootfs),
            *(source.one_line() for source in sources),
        ]
        _run_streaming(command, progress)
        progress(f"importing the root filesystem ({rootfs.stat().st_size // 2**20} MiB) as {tag}")
        repository, _, version = tag.partition(":")
        try:
            client.api.import_image_from_file(str(rootfs), repository=repository, tag=version)
        except docker.errors.APIError as e:
            raise EnvironmentProblem(f"docker import of the base image failed: {e.explanation}") from None
    return tag


def forwarded_apt_options(apt_config_dump: str) -> list[str]:
    """The host's apt settings (from `apt-config dump`) that mmdebstrap's apt needs too, as
    `--aptopt` values: `Acquire::http::Proxy "http://proxy:3128";`."""
    return [line.strip() for line in apt_config_dump.splitlines() if FORWARDED_APT_OPTIONS.match(line.strip())]


def _apt_config_dump() -> str:
    if not shutil.which("apt-config"):
        return ""
    done = subprocess.run(["apt-config", "dump"], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def _mmdebstrap(progress: Callable[[str], None]) -> str:
    found = shutil.which("mmdebstrap")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise EnvironmentProblem(
            "mmdebstrap is missing: install it (apt-get install mmdebstrap) or build on a registry "
            "image with --base debian:bookworm-slim"
        )
    progress("installing mmdebstrap (apt-get install mmdebstrap)")
    install = ["apt-get", "install", "-y", "--no-install-recommends", "mmdebstrap"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, capture_output=True, env=env, check=False).returncode != 0:
        # The host's package lists may be missing or stale: refresh them once and retry.
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
        done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise EnvironmentProblem(f"cannot install mmdebstrap: {reason}")
    return shutil.which("mmdebstrap") or "mmdebstrap"


def _run_streaming(command: list[str], progress: Callable[[str], None]) -> None:
    """Run the bootstrap, passing its `I:` progress lines on; a failure keeps its `E:` lines."""
    errors: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        for line in proc.stderr:
            line = line.rstrip()
            if line.startswith("I: ") and "tempdir" not in line:
                progress(f"  {line[3:]}")
            elif line.startswith("E: "):
                errors.append(line[3:])
    if proc.returncode != 0:
        reason = errors[-1] if errors else f"exit code {proc.returncode}"
        raise EnvironmentProblem(f"mmdebstrap failed: {reason}")
