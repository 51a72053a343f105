"""The sentence over a minimal explanation: each common shape of a register, and the fallback."""

from raft_jepsen.checkers.plain_words import sentence

S = 1_000_000_000  # ns


def op(index, f, value=None, output=None, call=0.0, ret=0.0, type="ok"):
    return {"index": index, "process": index, "f": f, "value": value, "output": output, "type": type,
            "call": int(call * S), "return": None if ret is None else int(ret * S)}


def name(o):
    if o["f"] == "read":
        return f"read → {'nil' if o['output'] is None else o['output']}"
    if o["f"] == "write":
        return f"write {o['value']}"
    old, new = ["nil" if v is None else v for v in o["value"]]
    return f"cas {old}→{new}" + (" (mismatch)" if o["type"] == "fail" else "")


def say(minimal, ops=None, proven=True):
    return sentence(minimal, ops or minimal, register=True, initial=None, model="cas-register", describe=name,
                    proven=proven)


def test_stale_read_after_a_completed_overwrite():
    w4, w0, r = op(1, "write", 4, 4, 1.0, 2.1), op(2, "write", 0, 0, 3.2, 3.31), op(3, "read", None, 4, 5.42, 5.5)
    assert say([w4, w0, r]) == ("read → 4 at 5.42 s returned a value overwritten at 3.31 s by write 0, which had "
                                "completed before the read began (write 4 had completed at 2.10 s, before write 0 began)")


def test_read_of_the_initial_value_after_a_write():
    w, r = op(1, "write", 1, 1, 1.0, 2.0), op(2, "read", None, None, 3.0, 3.5)
    assert say([w, r]) == ("read → nil at 3.00 s returned the initial value nil, overwritten at 2.00 s by write 1, "
                           "which had completed before the read began")


def test_read_of_a_value_never_written_and_before_its_write_began():
    r = op(1, "read", None, 7, 1.0, 1.5)
    assert say([r]) == "read → 7 at 1.00 s returned 7, a value no operation wrote"
    late = op(2, "write", 7, None, 4.0, None, type="info")
    assert say([r], [r, late]) == ("read → 7 at 1.00 s returned 7 before any write of it began (the first, write 7, "
                                   "began at 4.00 s)")


def test_two_cas_from_the_same_value_a_lost_update():
    w, c1, c2 = op(1, "write", 0, 0, 1.0, 1.2), op(2, "cas", [0, 1], [0, 1], 2.0, 2.5), op(3, "cas", [0, 2], [0, 2], 2.1, 2.6)
    assert say([w, c1, c2]) == ("cas 0→1 at 2.00 s and cas 0→2 at 2.10 s both succeeded from 0, which only write 0 "
                                "(completed at 1.20 s) could have set: one of them should have seen the other's value "
                                "(a lost update)")


def test_a_mismatch_though_the_value_was_there():
    w, c = op(1, "write", 3, 3, 1.0, 1.2), op(2, "cas", [3, 4], [3, 4], 2.0, 2.5, type="fail")
    assert say([w, c]) == ("cas 3→4 (mismatch) at 2.00 s failed, reporting a mismatch, though write 3 had completed at "
                           "1.20 s, before it began, and no other write could have changed the value in time")


def test_a_read_that_went_back_in_time():
    w1, w2 = op(1, "write", 1, 1, 0.0, 0.5), op(2, "write", 2, 2, 1.0, 1.5)
    r2, r1 = op(3, "read", None, 2, 2.0, 2.5), op(4, "read", None, 1, 3.0, 3.5)
    assert say([w1, w2, r2, r1]) == ("read → 1 at 3.00 s returned an older value than read → 2, which had completed at "
                                     "2.50 s, before it began (write 1 had completed before write 2 began)")


def test_a_value_that_came_back_though_its_only_write_came_first():
    r3, r1, again = op(1, "read", None, 3, 1.0, 1.2), op(2, "read", None, 1, 2.0, 2.2), op(3, "read", None, 3, 3.0, 3.2)
    w3, w1 = op(4, "write", 3, None, 0.5, None, type="info"), op(5, "write", 1, None, 0.6, None, type="info")
    assert say([r3, r1, again], [r3, r1, again, w3, w1]) == (
        "read → 3 at 3.00 s returned 3, though read → 1 had returned at 2.20 s, before it began, and the only write "
        "of 3 that began in time, write 3, had to take effect before read → 3 returned at 1.20 s")


def test_other_shapes_list_the_operations_in_time_order():
    ops = [op(2, "write", 1, 1, 2.0, 2.5), op(1, "read", None, 5, 1.0, 1.5), op(3, "read", None, 1, 3.0, 3.5)]
    assert sentence(ops, ops, register=False, initial=None, model="set", describe=name) == (
        "no order of these operations fits both their times and the set model: read → 5 (1.00–1.50 s); "
        "write 1 (2.00–2.50 s); read → 1 (3.00–3.50 s)")


def test_not_proven_minimal_is_said():
    r = op(1, "read", None, 7, 1.0, 1.5)
    assert say([r], proven=False).endswith("(not proven minimal: the explanation's time ran out first)")


def test_times_that_are_line_numbers_are_not_shown_as_seconds():
    r = {"index": 1, "process": 1, "f": "read", "value": None, "output": 7, "type": "ok", "call": 12, "return": 13}
    assert say([r]) == "read → 7 at time 12 returned 7, a value no operation wrote"


def test_times_that_would_read_alike_get_more_decimals():
    w, r = op(1, "write", 1, 1, 11.1421, 11.1513), op(2, "read", None, None, 11.1545, 11.16)
    assert say([w, r]) == ("read → nil at 11.155 s returned the initial value nil, overwritten at 11.151 s by write 1, "
                           "which had completed before the read began")
