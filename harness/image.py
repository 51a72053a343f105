"""The node image `raft-jepsen-node:<version>`: `node_image/Dockerfile` built on the offline
bootstrap (or on a registry image with `--base`), and `ensure_image()`, which a run calls first.

An image is identified by its inputs, not by its tag: the label `raft-jepsen.input-hash` holds
the sha256 of the Dockerfile, the sshd config, the package list, the raftkv sources, the Maelstrom
shim and the base, so an unchanged tree never rebuilds and an edited raftkv always does.

A system may need more in its nodes than the image has (`ImageLayer`): Debian packages, which go
into the offline base with the image's own (so they are installed the same way, from the host's
apt sources, no registry), files from the host and build commands, appended to the Dockerfile.
Such an image has inputs of its own, hence a content tag of its own."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.resources
import io
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import docker

from raft_jepsen.harness import __version__, base_image
from raft_jepsen.harness.errors import EnvironmentProblem

REPOSITORY = "raft-jepsen-node"
TAG = f"{REPOSITORY}:{__version__}"
HASH_LABEL = "raft-jepsen.input-hash"
# The build inputs ship with the package (`raft_jepsen.node_image`), so a regular install builds too.
NODE_IMAGE_DIR = Path(str(importlib.resources.files("raft_jepsen.node_image")))
# The build context: exactly these files, and everything under these folders but bytecode.
CONTEXT_FILES = ("Dockerfile", "sshd_config", "packages")
SOURCE_DIRS = ("raftkv", "maelstrom", "rjtools")
LAYER_DIR = "layer"  # where an ImageLayer's files sit in the build context


Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ImageLayer:
    """What one system adds to the node image: Debian `packages`; `files`, pairs of (file or folder
    on the host, absolute path in the image), copied in; then `run`, shell commands run at build
    time in that order (offline: no network is assumed inside the build)."""

    packages: tuple[str, ...] = ()
    files: tuple[tuple[Path, str], ...] = ()
    run: tuple[str, ...] = ()

    def inputs(self) -> tuple[dict[str, bytes], dict[str, int], str]:
        """(build-context path -> content, build-context path -> mode, Dockerfile lines)."""
        inputs: dict[str, bytes] = {}
        modes: dict[str, int] = {}
        lines = []
        for i, (src, dst) in enumerate(self.files):
            root = f"{LAYER_DIR}/{i}/{PurePosixPath(dst).name}"
            for path in [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file()):
                name = root if path == src else f"{root}/{path.relative_to(src).as_posix()}"
                inputs[name] = path.read_bytes()
                modes[name] = path.stat().st_mode & 0o777
            lines.append(f"COPY {root} {dst}")
        lines += [f"RUN {command}" for command in self.run]
        return inputs, modes, "".join(f"{line}\n" for line in lines)


def read_packages(text: str) -> list[str]:
    """The package list file: one name a line, `#` comments."""
    return [name for line in text.splitlines() if (name := line.split("#", 1)[0].strip())]


def context_inputs(directory: Path = NODE_IMAGE_DIR) -> dict[str, bytes]:
    """Relative path -> content of every file that goes into the build."""
    missing = [name for name in (*CONTEXT_FILES, *SOURCE_DIRS) if not (directory / name).exists()]
    if missing:
        raise EnvironmentProblem(f"{directory} lacks {', '.join(missing)}: is this a raft-jepsen source tree?")
    inputs = {name: (directory / name).read_bytes() for name in CONTEXT_FILES}
    for source in SOURCE_DIRS:
        for path in sorted((directory / source).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                inputs[path.relative_to(directory).as_posix()] = path.read_bytes()
    return inputs


def input_hash(inputs: dict[str, bytes], base: str) -> str:
    """sha256 over the base and each input's path and content (length-prefixed, so no two
    different trees can produce the same byte stream)."""
    digest = hashlib.sha256()
    for name, content in [("<base>", base.encode()), *sorted(inputs.items())]:
        for part in (name.encode(), content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def ensure_image(
    client: docker.DockerClient,
    *,
    base: str | None = None,
    force: bool = False,
    progress: Progress = _stderr,
    layer: ImageLayer | None = None,
) -> str:
    """The tag of the node image built from these inputs (`raft-jepsen-node:<version>-<hash>`),
    building it (and the offline base) first when it does not exist yet. `base` names a registry
    image to build on instead of the bootstrap. `raft-jepsen-node:<version>` is also pointed at
    it; a run uses the content tag, so that another checkout building its own image (another
    raftkv) never swaps the image under it.

    Builds are serialised across processes (a file lock): two runs started together would
    otherwise both build, and one's clean-up of superseded images would pull the other's away.

    `layer`: what a system adds (its packages join the base's, its files and commands end the
    Dockerfile)."""
    with _build_lock():
        return _ensure_image(client, base, force, progress, layer)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    path = Path(tempfile.gettempdir()) / "raft-jepsen-image.lock"
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ensure_image(
    client: docker.DockerClient, base: str | None, force: bool, progress: Progress, layer: ImageLayer | None
) -> str:
    inputs = context_inputs()
    packages = read_packages(inputs["packages"].decode())
    modes: dict[str, int] = {}
    if layer is not None:
        extra, modes, lines = layer.inputs()
        inputs.update(extra)
        inputs["Dockerfile"] += lines.encode()
        packages += [p for p in layer.packages if p not in packages]
        inputs["packages"] += "".join(f"{p}\n" for p in layer.packages).encode()
        inputs[f"{LAYER_DIR}/modes"] = repr(sorted(modes.items())).encode()  # an executable bit rebuilds too
    if base is None:
        base_ref, apt_packages = base_image.base_tag(packages), ""
    else:
        base_ref, apt_packages = base, " ".join(packages)
    wanted = input_hash(inputs, base_ref)
    if not force:
        existing = client.images.list(filters={"label": f"{HASH_LABEL}={wanted}"})
        if existing:
            existing[0].tag(REPOSITORY, __version__)  # the tag may point at an older build
            existing[0].tag(REPOSITORY, content_tag(wanted))
            progress(f"node image {TAG} is up to date (inputs {wanted[:12]})")
            return f"{REPOSITORY}:{content_tag(wanted)}"
    started = time.monotonic()
    why = "--force" if force else f"no image has its inputs {wanted[:12]} yet"
    progress(f"building the node image {TAG} ({why})")
    if base is None:
        base_image.ensure_base(client, packages, force=force, progress=progress)
    _build(client, inputs, modes, base_ref, apt_packages, wanted, force, progress)
    client.images.get(TAG).tag(REPOSITORY, content_tag(wanted))
    _remove_superseded(client)
    progress(f"built {TAG} in {time.monotonic() - started:.0f} s")
    return f"{REPOSITORY}:{content_tag(wanted)}"


def content_tag(input_hash: str) -> str:
    return f"{__version__}-{input_hash[:12]}"


def _build(
    client: docker.DockerClient,
    inputs: dict[str, bytes],
    modes: dict[str, int],
    base: str,
    apt_packages: str,
    wanted: str,
    force: bool,
    progress: Progress,
) -> None:
    progress(f"docker build on {base}")
    stream = client.api.build(
        fileobj=_context_tar(inputs, modes),
        custom_context=True,
        tag=TAG,
        labels={HASH_LABEL: wanted},
        buildargs={"BASE": base, "APT_PACKAGES": apt_packages},
        nocache=force,
        rm=True,
        forcerm=True,
        decode=True,
    )
    try:
        for chunk in stream:
            if "error" in chunk:
                raise EnvironmentProblem(f"node image build failed: {chunk['error'].strip()}")
            line = chunk.get("stream", "").strip()
            if line.startswith("Step "):
                progress(f"  {line if len(line) <= 100 else line[:97] + '...'}")
    except docker.errors.APIError as e:
        raise EnvironmentProblem(f"node image build failed: {e.explanation}") from None


def _remove_superseded(client: docker.DockerClient) -> None:
    """Drop earlier node images the new build untagged, or every raftkv edit would leave one
    (removing one also removes a base a forced rebuild left untagged beneath it)."""
    for old in client.images.list(filters={"label": HASH_LABEL, "dangling": True}):
        try:
            client.images.remove(old.id)
        except docker.errors.APIError:
            pass  # still used by a container (a running or leaked run): `clean`, then next build


def _context_tar(inputs: dict[str, bytes], modes: dict[str, int] | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in inputs.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = (modes or {}).get(name, 0o644)
            tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer
