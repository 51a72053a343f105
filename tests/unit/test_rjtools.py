"""The node-side tools of the faults, in their pure parts: the nfnetlink_queue messages and the
shaping policy, the probe's figures, the write-back filesystem's page cache."""

from __future__ import annotations

import os
import random
import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from raft_jepsen.node_image.rjtools import netqueue, probe
from raft_jepsen.node_image.rjtools.pagecache import Dirty

# ---- netqueue: the netlink messages ---------------------------------------------------------


def test_config_binds_the_queue_and_asks_for_acks():
    bind, params, flags = netqueue.config_messages(7, copy_packet=True)
    length, kind, nl_flags, seq, _ = struct.unpack_from("=IHHII", bind)
    assert length == len(bind) and kind == (3 << 8) | 2 and nl_flags == 1 | 4 and seq == 1
    family, version, queue = struct.unpack_from("!BBH", bind, 16)
    assert (family, version, queue) == (socket.AF_UNSPEC, 0, 7)
    attrs = netqueue.parse_attrs(bind[20:])
    assert attrs[netqueue.NFQA_CFG_CMD] == struct.pack("!BBH", 1, 0, socket.AF_INET)
    copy_range, mode = struct.unpack("!IB", netqueue.parse_attrs(params[20:])[netqueue.NFQA_CFG_PARAMS])
    assert (copy_range, mode) == (0xFFFF, netqueue.NFQNL_COPY_PACKET)
    meta = netqueue.config_messages(7, copy_packet=False)[1]
    assert struct.unpack("!IB", netqueue.parse_attrs(meta[20:])[netqueue.NFQA_CFG_PARAMS])[1] == netqueue.NFQNL_COPY_META
    assert netqueue.parse_attrs(flags[20:])[netqueue.NFQA_CFG_FLAGS] == struct.pack("!I", 1)


def test_verdict_names_the_packet_and_accepts_it():
    msg = netqueue.verdict_message(7, 4242)
    assert struct.unpack_from("=H", msg, 4)[0] == (3 << 8) | 1
    assert netqueue.parse_attrs(msg[20:])[netqueue.NFQA_VERDICT_HDR] == struct.pack("!II", 1, 4242)


def test_a_queued_packet_is_read_back_with_its_id_and_bytes():
    hdr = netqueue.attr(netqueue.NFQA_PACKET_HDR, struct.pack("!IHB", 99, 0x0800, 3))
    payload = netqueue.attr(netqueue.NFQA_PAYLOAD, b"\x45" + b"\0" * 20)
    datagram = netqueue.message(netqueue.NFQNL_MSG_PACKET, 7, hdr + payload, 0) * 2  # two in one read
    messages = netqueue.parse_messages(datagram)
    assert len(messages) == 2
    kind, body = messages[0]
    assert kind == (3 << 8) | netqueue.NFQNL_MSG_PACKET
    assert netqueue.packet_of(body) == (99, b"\x45" + b"\0" * 20)


def test_delay_alone_never_reorders_and_holds_about_the_delay():
    shaper = netqueue.Shaper(random.Random(1), delay_ms=80, jitter_ms=20)
    releases = [shaper.release_at(i * 0.001) for i in range(500)]
    assert releases == sorted(releases)
    holds = [r - i * 0.001 for i, r in enumerate(releases)]
    assert 0.075 < sum(holds) / len(holds) < 0.12 and min(holds) >= 0


def test_reorder_sends_a_share_at_once_and_holds_the_rest():
    shaper = netqueue.Shaper(random.Random(1), reorder=0.5, reorder_ms=60)
    holds = [round(shaper.release_at(10.0) - 10.0, 6) for _ in range(1000)]
    assert set(holds) == {0.0, 0.06}
    assert 400 < holds.count(0.0) < 600


def test_duplicate_share():
    shaper = netqueue.Shaper(random.Random(1), duplicate=0.3)
    assert 250 < sum(shaper.duplicates() for _ in range(1000)) < 350
    assert not any(netqueue.Shaper(random.Random(1)).duplicates() for _ in range(100))


# ---- probe ------------------------------------------------------------------------------------


def test_probe_counts_losses_duplicates_and_reorderings():
    arrivals = [(0, 1.0), (2, 3.0), (1, 2.0), (2, 3.5), (4, 5.0)]  # 3 lost, 2 twice, 1 overtaken
    assert probe.summarize(5, arrivals) == {"sent": 5, "received": 4, "duplicates": 1, "reordered": 1,
                                             "rtt_ms": {"p50": 3.0, "p90": 5.0, "max": 5.0}}
    assert probe.summarize(3, [])["rtt_ms"] is None


# ---- the write-back filesystem's page cache -----------------------------------------------------


def test_reads_see_unsynced_writes_over_the_backing_bytes():
    d = Dirty(size=6)
    d.write(6, b"ghi")
    d.write(9, b"jk")  # coalesces with the append before
    d.write(1, b"XY")
    assert len(d.ops) == 2
    assert d.overlay(b"abcdef", 0, 100) == b"aXYdefghijk"
    assert d.overlay(b"def", 3, 4) == b"defg"


def test_a_truncation_hides_the_bytes_beyond_it_even_when_the_file_grows_again():
    d = Dirty(size=6)
    d.truncate(2)
    d.write(4, b"zz")
    assert d.size == 6
    assert d.overlay(b"abcdef", 0, 100) == b"ab\0\0zz"


@given(st.lists(st.one_of(st.tuples(st.just("w"), st.integers(0, 40), st.binary(min_size=1, max_size=10)),
                          st.tuples(st.just("t"), st.integers(0, 40))), max_size=12),
       st.binary(max_size=30), st.integers(0, 45), st.integers(0, 50))
def test_overlay_reads_what_fsync_then_writes(tmp_path_factory, ops, base, off, size):
    # Oracle: apply the changes to a real file (what fsync does) and read it back.
    path = tmp_path_factory.mktemp("f") / "file"
    path.write_bytes(base)
    d = Dirty(size=len(base))
    for op in ops:
        d.write(op[1], op[2]) if op[0] == "w" else d.truncate(op[1])
    fd = os.open(path, os.O_RDWR)
    try:
        d.apply(fd)
        os.lseek(fd, off, os.SEEK_SET)
        expected = os.pread(fd, size, off)
    finally:
        os.close(fd)
    assert d.overlay(base[off:off + size], off, size) == expected
    assert d.size == path.stat().st_size
