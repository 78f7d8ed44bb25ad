"""Following output while it is written: offsets in the whole stream survive the cut middle (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from executions.kinds.masking import OutputCollector, live_slice


def test_an_uncut_output_is_read_from_the_offset_on():
    assert live_slice("line 1\nline 2\n", 0) == ("line 1\nline 2\n", 14)
    assert live_slice("line 1\nline 2\n", 7) == ("line 2\n", 14)
    assert live_slice("line 1\n", 7) == ("", 7)


def test_a_follower_keeps_its_place_while_the_middle_is_cut():
    collector = OutputCollector(limit=20)
    collector.write("0123456789")  # the head is full
    seen, offset = live_slice(collector.snapshot(), 0)
    collector.write("abcdefghij" + "ABCDEFGHIJ")  # 10 bytes fall out of the middle
    more, offset = live_slice(collector.snapshot(), offset)
    assert seen == "0123456789"
    assert more == "\n…[10 bytes truncated]…\nABCDEFGHIJ" and offset == 30
    collector.write("xyz")
    assert live_slice(collector.snapshot(), offset) == ("xyz", 33)


def test_a_secrets_start_is_held_back_until_it_cannot_be_a_secret():
    collector = OutputCollector(secrets=["hunter2"])
    collector.write("token hunt")
    assert collector.snapshot() == "toke"  # "n hunt" could still become the secret
    collector.write("er2 done\n")
    assert collector.snapshot().startswith("token ***") and "hunt" not in collector.snapshot()
    assert collector.getvalue() == "token *** done\n"


@given(st.lists(st.text(alphabet="ab\n", min_size=1, max_size=15), min_size=1, max_size=12), st.integers(8, 40))
def test_what_a_follower_reads_ends_like_the_output_and_never_repeats(pieces, limit):
    collector = OutputCollector(limit=limit)
    read, offset = "", 0
    for piece in pieces:
        collector.write(piece)
        more, offset = live_slice(collector.snapshot(), offset)
        read += more
    whole = "".join(pieces)
    assert offset == len(whole.encode())
    tail = live_slice(collector.getvalue(), 0)[0].split("…\n")[-1]
    assert read.endswith(tail)
    assert len(read.replace("…", "")) <= len(whole) + 40 * len(pieces)
