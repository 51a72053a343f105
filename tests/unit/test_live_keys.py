"""Key rotation: a few keys live at a time, each shared by a group of threads; a thread moves on
after its own ops that reached the cluster (workloads.registers.LiveKeys)."""

from raft_jepsen.harness.history import Op
from raft_jepsen.workloads.registers import LiveKeys


def completion(type, error=None):
    return Op(index=0, type=type, process=0, f="write", key="k", value=1, error=error)


def test_threads_share_their_groups_key_and_move_on_after_their_own_ops():
    keys = LiveKeys(per_thread=2, groups=3)
    assert [keys.key(t) for t in range(12)] == ["k0"] * 4 + ["k1"] * 4 + ["k2"] * 4
    keys = keys.after(5, completion("ok"))
    assert keys.key(5) == "k1"
    keys = keys.after(5, completion("info"))
    assert (keys.key(5), keys.key(4)) == ("k4", "k1")  # the group's next key: k1 + 3 groups
    assert keys.after(5, completion("ok")).key(5) == "k4"


def test_refused_ops_do_not_use_a_key_up_but_a_cas_mismatch_does():
    keys = LiveKeys(per_thread=2, groups=1)
    for _ in range(10):
        keys = keys.after(0, completion("fail", error="connection refused"))
    assert keys.key(0) == "k0"
    keys = keys.after(0, completion("fail", error="cas-mismatch"))
    keys = keys.after(0, completion("fail", error="cas-mismatch"))
    assert keys.key(0) == "k1"


def test_a_completion_of_no_thread_changes_nothing():
    keys = LiveKeys(per_thread=2, groups=1)
    assert keys.after(None, completion("ok")) == keys
