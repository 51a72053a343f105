"""Key rotation counts only the ops that reached the cluster (workloads.registers.LiveKeys)."""

from raft_jepsen.harness.history import Op
from raft_jepsen.workloads.registers import LiveKeys


def completion(key, type, error=None):
    return Op(index=0, type=type, process=0, f="write", key=key, value=1, error=error)


def test_a_key_retires_after_per_key_ops_that_reached_the_cluster():
    keys = LiveKeys(2, (("k0", 2),), 1)
    keys = keys.after(completion("k0", "ok"))
    assert keys.live == (("k0", 1),)
    keys = keys.after(completion("k0", "info"))
    assert keys.live == (("k1", 2),) and keys.next_key == 2


def test_refused_ops_do_not_use_a_key_up_but_a_cas_mismatch_does():
    keys = LiveKeys(2, (("k0", 2),), 1)
    for _ in range(10):
        keys = keys.after(completion("k0", "fail", error="connection refused"))
    assert keys.live == (("k0", 2),)
    assert keys.after(completion("k0", "fail", error="cas-mismatch")).live == (("k0", 1),)


def test_a_retired_keys_late_completion_changes_nothing():
    keys = LiveKeys(2, (("k5", 2),), 6)
    assert keys.after(completion("k1", "ok")) == keys
