"""The pure parts of the node image build: which host apt sources the offline bootstrap uses,
and what decides whether an image must be rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raft_jepsen.harness import base_image, image
from raft_jepsen.harness.apt_sources import (
    AptSource,
    debian_archive,
    host_sources,
    parse_deb822,
    parse_one_line,
)
from raft_jepsen.harness.errors import EnvironmentProblem

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

DEBIAN_SOURCES = f"""\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: {KEYRING}

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main non-free-firmware
Signed-By: {KEYRING}
"""

NODESOURCE_SOURCES = """\
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Architectures: amd64
Signed-By: /usr/share/keyrings/nodesource.gpg
"""


# --- parsing -------------------------------------------------------------------------------


def test_one_line_format_with_options_comments_and_deb_src():
    text = """
# a comment
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m/debian bookworm main contrib
deb-src http://m/debian bookworm main
deb http://m/debian bookworm-updates main  # trailing comment
"""
    assert parse_one_line(text) == [
        AptSource("http://m/debian", "bookworm", ("main", "contrib"), KEYRING),
        AptSource("http://m/debian", "bookworm-updates", ("main",), None),
    ]


def test_deb822_gives_one_entry_per_uri_and_suite():
    assert parse_deb822(DEBIAN_SOURCES) == [
        AptSource("http://mirror.example/debian", "bookworm", ("main",), KEYRING),
        AptSource("http://mirror.example/debian", "bookworm-updates", ("main",), KEYRING),
        AptSource("http://mirror.example/debian-security", "bookworm-security", ("main", "non-free-firmware"), KEYRING),
    ]


def test_deb822_skips_disabled_and_source_only_stanzas():
    text = """\
Types: deb
URIs: http://m/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://m/debian
Suites: bookworm
Components: main
"""
    assert parse_deb822(text) == []


def test_deb822_inline_key_block_is_kept_as_a_multiline_signed_by():
    text = """\
Types: deb
URIs: https://repo.example/apt
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBF...
 -----END PGP PUBLIC KEY BLOCK-----
"""
    [source] = parse_deb822(text)
    assert source.signed_by is not None and "BEGIN PGP" in source.signed_by
    assert debian_archive([source]) == []  # an embedded key is never Debian's archive


# --- filtering -----------------------------------------------------------------------------


def test_only_debian_archive_entries_for_bookworm_survive():
    sources = [
        AptSource("http://m/debian", "bookworm", ("main",), KEYRING),
        AptSource("https://deb.nodesource.com/node_20.x", "nodistro", ("main",), "/usr/share/keyrings/nodesource.gpg"),
        AptSource("https://download.docker.com/linux/debian", "bookworm", ("stable",), None),
        AptSource("http://apt.postgresql.org/pub/repos/apt", "bookworm-pgdg", ("main",), None),
        AptSource("https://packages.cloud.google.com/apt", "cloud-sdk-bookworm", ("main",), None),
        AptSource("https://vendor.example/apt", "bookworm", ("main",), "/etc/apt/keyrings/vendor.gpg"),
        AptSource("http://m/debian", "bookworm-backports", ("main",), KEYRING),
        AptSource("http://m/debian", "trixie", ("main",), KEYRING),
        AptSource("http://m/debian-security", "bookworm-security", ("main",), None),
    ]
    assert debian_archive(sources) == [
        AptSource("http://m/debian", "bookworm", ("main",), KEYRING),
        AptSource("http://m/debian-security", "bookworm-security", ("main",), None),
    ]


def test_foreign_components_are_trimmed_and_duplicates_dropped():
    sources = [
        AptSource("http://m/debian", "bookworm", ("main", "extras"), KEYRING),
        AptSource("http://m/debian", "bookworm", ("main",), KEYRING),
    ]
    assert debian_archive(sources) == [AptSource("http://m/debian", "bookworm", ("main",), KEYRING)]


def test_host_sources_reads_both_formats_and_ignores_other_files(tmp_path: Path):
    apt = tmp_path / "etc/apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text("deb http://other.example/debian bookworm main\n")
    (apt / "sources.list.d/debian.sources").write_text(DEBIAN_SOURCES)
    (apt / "sources.list.d/nodesource.sources").write_text(NODESOURCE_SOURCES)
    (apt / "sources.list.d/google.list").write_text("deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    (apt / "sources.list.d/old.list.disabled").write_text("deb http://disabled.example/debian bookworm main\n")
    assert [s.one_line() for s in host_sources(tmp_path)] == [
        "deb http://other.example/debian bookworm main",
        f"deb [signed-by={KEYRING}] http://mirror.example/debian bookworm main",
        f"deb [signed-by={KEYRING}] http://mirror.example/debian bookworm-updates main",
        f"deb [signed-by={KEYRING}] http://mirror.example/debian-security bookworm-security main non-free-firmware",
    ]


def test_a_host_without_a_bookworm_source_is_an_environment_problem(tmp_path: Path):
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list.d/nodesource.sources").write_text(NODESOURCE_SOURCES)
    with pytest.raises(EnvironmentProblem, match="--base debian:bookworm-slim"):
        host_sources(tmp_path)


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


@given(
    uri=words.map(lambda w: f"http://{w}.example/debian"),
    suite=words,
    components=st.lists(words, min_size=1, max_size=4).map(tuple),
    signed_by=st.none() | words.map(lambda w: f"/usr/share/keyrings/{w}.gpg"),
)
def test_one_line_rendering_parses_back(uri, suite, components, signed_by):
    source = AptSource(uri, suite, components, signed_by)
    assert parse_one_line(source.one_line()) == [source]


def test_forwarded_apt_options_are_the_proxy_and_validity_settings_only():
    dump = """\
APT "";
Acquire::http::Proxy "http://proxy.example:3128";
Acquire::https::Proxy "DIRECT";
Acquire::Check-Valid-Until "false";
Acquire::Languages "none";
Dir::Etc "etc/apt";
"""
    assert base_image.forwarded_apt_options(dump) == [
        'Acquire::http::Proxy "http://proxy.example:3128";',
        'Acquire::https::Proxy "DIRECT";',
        'Acquire::Check-Valid-Until "false";',
    ]


# --- the input hash ------------------------------------------------------------------------

INPUTS = {"Dockerfile": b"FROM x\n", "packages": b"python3\n", "raftkv/node.py": b"print(1)\n"}


def test_input_hash_ignores_dict_order():
    assert image.input_hash(INPUTS, "b") == image.input_hash(dict(reversed(list(INPUTS.items()))), "b")


@pytest.mark.parametrize(
    "changed",
    [
        {**INPUTS, "raftkv/node.py": b"print(2)\n"},  # a source edited
        {**INPUTS, "raftkv/extra.py": b""},  # a source added, even an empty one
        {k: v for k, v in INPUTS.items() if k != "raftkv/node.py"},  # a source removed
        {**{k: v for k, v in INPUTS.items() if k != "raftkv/node.py"}, "raftkv/other.py": b"print(1)\n"},  # renamed
    ],
)
def test_input_hash_changes_with_any_input(changed):
    assert image.input_hash(changed, "b") != image.input_hash(INPUTS, "b")


def test_input_hash_changes_with_the_base():
    assert image.input_hash(INPUTS, "debian:bookworm-slim") != image.input_hash(INPUTS, "raft-jepsen-base:x")


def test_input_hash_cannot_be_fooled_by_moving_bytes_between_name_and_content():
    assert image.input_hash({"ab": b"c"}, "b") != image.input_hash({"a": b"bc"}, "b")


def test_context_inputs_skip_bytecode_and_need_the_whole_tree(tmp_path: Path):
    for name in image.CONTEXT_FILES:
        (tmp_path / name).write_text(name)
    (tmp_path / "raftkv/__pycache__").mkdir(parents=True)
    (tmp_path / "raftkv/__main__.py").write_text("main")
    (tmp_path / "raftkv/__pycache__/__main__.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "raftkv/stale.pyc").write_bytes(b"\0")
    (tmp_path / "maelstrom").mkdir()
    (tmp_path / "maelstrom/shim.py").write_text("shim")
    (tmp_path / "rjtools").mkdir()
    (tmp_path / "rjtools/probe.py").write_text("probe")
    assert sorted(image.context_inputs(tmp_path)) == [
        "Dockerfile", "maelstrom/shim.py", "packages", "raftkv/__main__.py", "rjtools/probe.py", "sshd_config"]
    (tmp_path / "sshd_config").unlink()
    with pytest.raises(EnvironmentProblem, match="sshd_config"):
        image.context_inputs(tmp_path)


def test_the_shipped_package_list_has_what_nodes_and_faults_need():
    packages = image.read_packages((image.NODE_IMAGE_DIR / "packages").read_text())
    assert {"python3", "iptables", "iproute2", "procps", "tini", "openssh-server", "faketime",
            "fuse3", "python3-pyfuse3"} <= set(packages)
    assert not any(p.startswith("#") or " " in p for p in packages)


def test_read_packages_drops_comments_and_blank_lines():
    assert image.read_packages("# list\npython3\n\n tini  # init\n") == ["python3", "tini"]


def test_base_tag_depends_on_the_package_set_not_its_order():
    assert base_image.base_tag(["a", "b"]) == base_image.base_tag(["b", "a"])
    assert base_image.base_tag(["a", "b"]) != base_image.base_tag(["a", "b", "c"])
    assert base_image.base_tag(["a"]).startswith("raft-jepsen-base:bookworm-")
