"""The host's Debian apt sources, as the offline image build reuses them.

No mirror is ever hard-coded: the node image is bootstrapped from whatever Debian mirror (or
proxy, or snapshot) the host itself installs packages from. A host also lists third-party
repositories (nodesource, Docker, cloud SDKs) that must not leak into the image, so only Debian
archive entries for the bookworm suites are kept: the right suite, Debian's own components, and
no foreign signing key. Both formats are read: one-line `*.list` and deb822 `*.sources`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from raft_jepsen.harness.errors import EnvironmentProblem

RELEASE = "bookworm"
# Stable itself, its point-release updates and security fixes; backports and proposed-updates
# would make the image depend on what the host happens to opt into.
SUITES = (RELEASE, f"{RELEASE}-updates", f"{RELEASE}-security")
DEBIAN_COMPONENTS = ("main", "contrib", "non-free", "non-free-firmware")


@dataclass(frozen=True, slots=True)
class AptSource:
    """One `deb URI SUITE COMPONENTS` entry (a deb822 stanza with several suites gives several)."""

    uri: str
    suite: str
    components: tuple[str, ...]
    signed_by: str | None = None

    def one_line(self) -> str:
        options = f"[signed-by={self.signed_by}] " if self.signed_by else ""
        return f"deb {options}{self.uri} {self.suite} {' '.join(self.components)}"


def parse_one_line(text: str) -> list[AptSource]:
    """Entries of a `sources.list`-style file; `deb-src` lines and comments are dropped."""
    sources = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        options: dict[str, str] = {}
        match = re.match(r"^(\S+)\s+\[([^\]]*)\]\s*(.*)$", line)
        if match:
            kind, option_text, rest = match.groups()
            for item in option_text.split():
                key, _, value = item.partition("=")
                options[key.lower()] = value
        else:
            kind, _, rest = line.partition(" ")
        fields = rest.split()
        if kind != "deb" or len(fields) < 2:
            continue
        uri, suite, *components = fields
        sources.append(AptSource(uri, suite, tuple(components), options.get("signed-by")))
    return sources


def parse_deb822(text: str) -> list[AptSource]:
    """Entries of a deb822 `*.sources` file: stanzas separated by blank lines, one per suite."""
    sources = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = _deb822_fields(stanza)
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        components = tuple(fields.get("components", "").split())
        signed_by = fields.get("signed-by") or None
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                sources.append(AptSource(uri, suite, components, signed_by))
    return sources


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0] in " \t" and key:  # continuation line (e.g. an inline Signed-By key block)
            fields[key] += "\n" + line.strip()
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        fields[key] = value.strip()
    return fields


def debian_archive(sources: list[AptSource]) -> list[AptSource]:
    """The entries that are Debian's own archive for the bookworm suites, components trimmed to
    Debian's, duplicates dropped, order kept."""
    kept: list[AptSource] = []
    for source in sources:
        components = tuple(c for c in source.components if c in DEBIAN_COMPONENTS)
        if source.suite not in SUITES or not components or not _debian_key(source.signed_by):
            continue
        entry = AptSource(source.uri, source.suite, components, source.signed_by)
        if entry not in kept:
            kept.append(entry)
    return kept


def _debian_key(signed_by: str | None) -> bool:
    # A third-party repository names its own keyring (or embeds its key); Debian's entries name
    # debian-archive-keyring's files, or nothing (apt then uses its trusted.gpg.d).
    if signed_by is None:
        return True
    return "\n" not in signed_by and all("debian-archive" in Path(p).name for p in signed_by.split())


def host_sources(root: Path = Path("/")) -> list[AptSource]:
    """The Debian bookworm entries of the host's apt configuration under `root`."""
    apt = root / "etc/apt"
    found: list[AptSource] = []
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        if path.name == "sources.list" or path.suffix == ".list":
            found += parse_one_line(_read(path))
        elif path.suffix == ".sources":
            found += parse_deb822(_read(path))
    kept = debian_archive(found)
    if not any(s.suite == RELEASE for s in kept):
        raise EnvironmentProblem(
            f"no Debian {RELEASE} apt source in {apt} to bootstrap the node image from; "
            "use `raft-jepsen image build --base debian:bookworm-slim` where a registry is reachable"
        )
    return kept


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise EnvironmentProblem(f"cannot read {path}: {e.strerror}") from None
