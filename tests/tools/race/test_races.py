"""The race detector's clock logic (tools/race/detector.py) on synthetic event
streams: what races, what happens-before orders, sync words, and how a
racing pair is reported once."""

from tools.race.detector import Detector

X, Y = 0x10000, 0x10010          # two words of one shared frame


def kinds(det):
    return [(r.a.pid, r.a.kind, r.b.pid, r.b.kind) for r in det.verdicts()]


def boot(*pids):
    det = Detector()
    for pid in pids:
        det.spawn(None, pid)
    return det


def test_unordered_write_then_read_races():
    det = boot(1, 2)
    det.access(1, X, 4, True, eip=0x401000)
    det.access(2, X, 4, False, eip=0x402000)
    [r] = det.verdicts()
    assert (r.a.pid, r.a.eip, r.a.kind) == (1, 0x401000, "write")
    assert (r.b.pid, r.b.eip, r.b.kind) == (2, 0x402000, "read")
    assert r.byte == X


def test_reads_never_race_and_one_process_never_races_with_itself():
    det = boot(1, 2)
    det.access(1, X, 4, False)
    det.access(2, X, 4, False)
    det.access(1, Y, 4, True)
    det.access(1, Y, 4, False)
    det.access(1, Y, 4, True)
    assert det.verdicts() == []


def test_disjoint_bytes_of_one_word_do_not_race():
    det = boot(1, 2)
    det.access(1, X, 1, True)
    det.access(2, X + 1, 1, True)
    det.access(2, X + 2, 2, False)
    assert det.verdicts() == []
    det.access(2, X, 2, False)          # overlaps pid 1's byte
    assert kinds(det) == [(1, "write", 2, "read")]


def test_write_after_unordered_reads_races_with_each_reader():
    det = boot(1, 2, 3)
    det.access(1, X, 4, False, eip=1)
    det.access(2, X, 4, False, eip=2)
    det.access(3, X, 4, True, eip=3)
    assert sorted(kinds(det)) == [(1, "read", 3, "write"),
                                  (2, "read", 3, "write")]


def test_spawn_orders_what_the_parent_did_before_it_only():
    det = boot(1)
    det.access(1, X, 4, True)
    det.spawn(1, 2)
    det.access(2, X, 4, False)          # after the spawn: ordered
    assert det.verdicts() == []
    det.access(1, Y, 4, True)           # parent, after the spawn
    det.access(2, Y, 4, False)
    assert kinds(det) == [(1, "write", 2, "read")]


def test_exit_then_wait_orders_the_childs_life_before_the_parent():
    det = boot(1)
    det.spawn(1, 2)
    det.access(2, X, 4, True)
    det.exit(2)
    det.wait(1, 2)
    det.access(1, X, 4, False)
    assert det.verdicts() == []


def test_without_the_wait_the_parent_races_with_its_child():
    det = boot(1)
    det.spawn(1, 2)
    det.access(2, X, 4, True)
    det.exit(2)
    det.access(1, X, 4, False)
    assert kinds(det) == [(2, "write", 1, "read")]


def test_a_message_carries_the_senders_clock():
    det = boot(1, 2)
    det.access(1, X, 4, True)
    msg = det.release(1)                # send
    det.access(1, Y, 4, True)           # after the send: not covered
    det.acquire(2, msg)                 # recv
    det.access(2, X, 4, False)
    assert det.verdicts() == []
    det.access(2, Y, 4, False)
    assert kinds(det) == [(1, "write", 2, "read")]


def test_happens_before_is_transitive():
    det = boot(1, 2, 3)
    det.access(1, X, 4, True)
    det.acquire(2, det.release(1))
    det.wake(2, 3)                      # 2 wakes 3: 1 -> 2 -> 3
    det.access(3, X, 4, True)
    assert det.verdicts() == []


def test_futex_wake_orders_the_waker_before_the_woken():
    det = boot(1, 2)
    det.access(1, X, 4, True)
    det.wake(1, 2)
    det.access(2, X, 4, True)
    assert det.verdicts() == []
    det.access(1, X, 4, False)          # the waker, afterwards: unordered
    assert kinds(det) == [(2, "write", 1, "read")]


def test_sync_word_release_acquire_orders_data_and_never_races():
    det = boot(1, 2)
    det.access(1, X, 4, True)                     # data
    det.access(1, Y, 4, False, atomic=True)       # xchg: read ...
    det.access(1, Y, 4, True, atomic=True)        # ... and write: release
    det.access(2, Y, 4, False)                    # plain read: acquire
    det.access(2, X, 4, False)
    det.access(2, Y, 4, True)                     # plain write, sync word
    det.access(1, Y, 4, True)
    assert det.verdicts() == []
    assert Y in det.sync and X not in det.sync


def test_polling_a_plain_flag_is_a_race_on_flag_and_data():
    det = boot(1, 2)
    det.access(1, X, 4, True, eip=0x10)           # data
    det.access(1, Y, 4, True, eip=0x11)           # flag = 1, plain
    det.access(2, Y, 4, False, eip=0x20)          # sees the flag
    det.access(2, X, 4, False, eip=0x21)          # reads the data
    pairs = {(r.a.eip, r.b.eip) for r in det.verdicts()}
    assert pairs == {(0x11, 0x20), (0x10, 0x21)}


def test_a_word_that_becomes_a_sync_word_later_is_never_a_race():
    """The retroactive case: plain accesses race on Y, then an atomic
    touches Y. The race on Y is withdrawn; Y's earlier accesses ordered
    nothing, so the race on X (published through Y too early) stays."""
    det = boot(1, 2)
    det.access(1, X, 4, True, eip=1)
    det.access(1, Y, 4, True, eip=2)
    det.access(2, Y, 4, False, eip=3)
    det.access(2, X, 4, False, eip=4)
    assert len(det.races) == 2
    det.access(2, Y, 4, True, atomic=True, eip=5)
    assert [(r.a.eip, r.b.eip) for r in det.verdicts()] == [(1, 4)]


def test_each_pair_of_instructions_is_reported_once():
    det = boot(1, 2)
    for _ in range(5):
        det.access(1, X, 4, True, eip=0x100, program="p")
        det.access(2, X, 4, True, eip=0x100, program="p")
        det.access(2, X + 8, 4, True, eip=0x100, program="p")
        det.access(1, X + 8, 4, False, eip=0x104, program="p")
    rs = det.verdicts()
    assert sorted((r.a.eip, r.b.eip) for r in rs) == [(0x100, 0x100),
                                                     (0x100, 0x104)]
    assert max(r.count for r in rs) > 1


def test_forget_settles_a_frames_races_and_clears_its_shadow():
    det = boot(1, 2)
    det.access(1, X, 4, True)
    det.access(2, X, 4, True)           # a race on X, frame 0x10000
    det.access(1, Y, 4, True, atomic=True)
    det.forget({0x10000})
    assert len(det.verdicts()) == 1 and not det.races
    assert not det.writes and not det.sync and not det.frames
    det.access(1, Y, 4, True)           # the frame reused: a new life
    det.access(2, Y, 4, True)
    assert len(det.verdicts()) == 2     # Y is plain memory now


def test_located_fills_in_each_side():
    seen = []
    det = Detector(located=lambda r: seen.append(r))
    det.spawn(None, 1)
    det.spawn(None, 2)
    det.access(1, X, 4, True)
    det.access(2, X, 4, True)
    assert len(seen) == 1 and seen[0].a.pid == 1


def test_a_byte_write_inside_a_written_word():
    det = boot(1, 2)
    det.access(1, X, 4, True, eip=1)
    det.access(2, X + 2, 1, True, eip=2)
    [r] = det.verdicts()
    assert (r.a.eip, r.b.eip, r.byte) == (1, 2, X + 2)
    det.access(1, X, 4, False, eip=3)         # sees pid 2's byte
    assert [(r.a.eip, r.b.eip) for r in det.verdicts()] == [(1, 2), (2, 3)]


def test_byte_reads_are_remembered_per_byte():
    det = boot(1, 2, 3)
    det.access(1, X, 2, False, eip=1)         # bytes 0-1
    det.access(2, X, 4, False, eip=2)         # bytes 0-3
    det.access(3, X + 3, 1, True, eip=3)      # byte 3: only pid 2 read it
    assert [(r.a.eip, r.b.eip, r.byte) for r in det.verdicts()] == \
        [(2, 3, X + 3)]
    det.access(3, X, 4, True, eip=4)          # the whole word now
    assert {(r.a.eip, r.b.eip) for r in det.verdicts()} == \
        {(2, 3), (1, 4), (2, 4)}              # both readers, bytes 0-2
    det2 = boot(1, 2)
    det2.access(1, X, 4, False, eip=1)
    det2.access(2, X + 3, 1, True, eip=2)
    det2.access(2, X, 4, True, eip=3)
    assert {(r.a.eip, r.b.eip) for r in det2.verdicts()} == {(1, 2), (1, 3)}


def test_an_unaligned_access_spans_two_words():
    det = boot(1, 2)
    det.access(1, X + 2, 4, True, eip=1)      # bytes X+2 .. X+5
    det.access(2, X + 4, 1, False, eip=2)
    det.access(2, X + 8, 4, False, eip=3)     # untouched: no race
    assert [(r.a.eip, r.b.eip, r.byte) for r in det.verdicts()] == \
        [(1, 2, X + 4)]


def test_accesses_that_add_nothing_are_skipped_but_not_their_conflicts():
    """pid 1 loops load/store in one epoch: after the first iteration the
    detector skips its accesses; pid 2's load and store still race with
    pid 1's store, and a load/store pair of pid 1 from a new epoch counts."""
    det = boot(1, 2)
    for _ in range(100):
        det.access(1, X, 4, False, eip=0x10)
        det.access(1, X, 4, True, eip=0x13)
    assert det.accesses == 200 and det.last_reads(X) is None
    assert det.last_write(X).eip == 0x13
    det.access(2, X, 4, False, eip=0x10)
    det.access(2, X, 4, True, eip=0x13)
    assert {(r.a.eip, r.b.eip) for r in det.verdicts()} == {(0x13, 0x10),
                                                           (0x13, 0x13)}
    det.release(1)                       # a new epoch for pid 1: its
    det.access(1, X, 4, False, eip=0x10)    # load races with 2's store,
    pair = next(r for r in det.verdicts() if r.b.eip == 0x10)
    assert pair.count == 2               # the same pair of instructions


def test_an_eight_byte_access_covers_two_whole_words():
    det = boot(1, 2)
    det.access(1, X, 8, True, eip=1)          # movq: two words
    assert det.last_write(X).eip == det.last_write(X + 4).eip == 1
    det.access(2, X + 4, 4, False, eip=2)
    assert [(r.a.eip, r.b.eip, r.byte) for r in det.verdicts()] == \
        [(1, 2, X + 4)]


def test_a_loop_over_words_shares_one_access_and_reports_each_pa():
    """One instruction writing word after word (a memset) leaves one packed
    entry per word, all naming one site; a race found on any of the words still names the
    words' own physical addresses."""
    det = boot(1, 2)
    for word in range(X, X + 4096, 4):
        det.access(1, word, 4, True, eip=0x401000)
    assert det.shadow_words() == 1024 and len(det.sites.index) == 1
    det.access(2, X + 0x100, 4, False, eip=0x402000)
    det.access(2, X + 0x204, 2, True, eip=0x402010)
    [r1, r2] = det.verdicts()
    assert (r1.a.pa, r1.b.pa, r1.byte) == (X + 0x100, X + 0x100, X + 0x100)
    assert (r2.a.pa, r2.b.pa, r2.byte) == (X + 0x204, X + 0x204, X + 0x204)
    assert r1.a.size == 4 and r2.b.size == 2
