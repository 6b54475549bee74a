"""Class mode's store and rules (core/classroom.py), on the in-memory backend and on a real Redis server."""
import csv
import io
import signal
import time

import pytest

from core import classroom as cr
from core import questions as qs


@pytest.fixture(scope="module")
def redis_url(redis_server):
    return redis_server[0]


class Clock:
    def __init__(self):
        self.t = 1_000_000.0

    def __call__(self):
        return self.t


@pytest.fixture(params=["memory", "redis"])
def room(request):
    clock = Clock()
    if request.param == "memory":
        backend = cr.MemoryBackend(clock=clock)
    else:
        backend = cr.RedisBackend(request.getfixturevalue("redis_url"))
        backend.r.flushdb()
    limits = cr.Limits(ttl_s=60, max_students=3, max_answers=5, answer_interval_s=0.05, opens_per_hour=4)
    r = cr.Classroom(backend, limits=limits, clock=clock)

    def advance(dt):  # the store's clock: ours in memory, Redis's own (real time) there
        clock.t += dt
        if request.param == "redis":
            time.sleep(dt)

    r.advance, r.test_clock = advance, clock
    return r


Q = next(q for q in qs.QUESTIONS if q.kind == "choice" and len(q.options) >= 2)  # a choice question


def test_codes_are_80_bits_and_forgiving_to_type():
    codes = {cr.new_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 16 and cr.normalize_code(c) == c for c in codes)
    c = next(iter(codes))
    assert cr.normalize_code(cr.pretty_code(c).upper()) == c
    assert cr.normalize_code(" " + cr.pretty_code(c) + " ") == c
    for bad in ("", "abc", c + "a", c[:-1] + "0", "<script>", None, 42, "x" * 1000):
        assert cr.normalize_code(bad) is None


def test_teacher_moves_the_class_and_students_see_it(room):
    code, token = room.open()
    assert room.exists(code) and room.view(code) is None
    v1 = room.publish(code, token, "gan", {"walkthrough": "true", "step": "3. x"})
    assert room.view(code) == cr.ClassView(v1, "gan", {"walkthrough": "true", "step": "3. x"})
    assert room.publish(code, token, "gan", {"walkthrough": "true", "step": "3. x"}) == v1  # unchanged: same version
    v2 = room.publish(code, token, "gan", {"view": "Training curves", "present": "true"})
    assert v2 == v1 + 1 and room.view(code).query == {"view": "Training curves"}  # the presenter flag stays home


def test_only_the_lead_token_drives(room):
    code, token = room.open()
    _other_code, other_token = room.open()
    for forged in (None, "", "x", other_token, token + "x", token.upper()):
        with pytest.raises(cr.NotTeacher):
            room.publish(code, forged, "gan", {})
        with pytest.raises(cr.NotTeacher):
            room.ask(code, forged, Q.id)
        with pytest.raises(cr.NotTeacher):
            room.export_csv(code, forged)
        with pytest.raises(cr.NotTeacher):
            room.end(code, forged)
        assert not room.is_teacher(code, forged)
    assert room.is_teacher(code, token) and room.view(code) is None
    with pytest.raises(cr.NoClass):  # a guessed code
        room.publish(cr.new_code(), token, "gan", {})
    with pytest.raises(cr.NoClass):
        room.join(cr.new_code(), "s1")


def test_answers_are_canonical_bounded_and_rate_limited(room):
    code, token = room.open()
    room.join(code, "a")
    with pytest.raises(cr.AnswerRefused):  # nothing asked yet
        room.answer(code, "a", Q.id, 0)
    room.ask(code, token, Q.id)
    with pytest.raises(cr.AnswerRefused):  # not a member
        room.answer(code, "stranger", Q.id, 0)
    for bad in ("<b>1</b>", "x" * 10_000, "-1", "99", "1e999", None, True):
        with pytest.raises(cr.AnswerRefused):
            room.answer(code, "a", Q.id, bad)
    assert room.answer(code, "a", Q.id, " 0 ") == "0"
    with pytest.raises(cr.AnswerRefused, match="a second"):
        room.answer(code, "a", Q.id, 1)
    room.advance(0.06)
    assert room.answer(code, "a", Q.id, "1") == "1"  # an answer may change until the reveal
    assert room.results(code, token, Q.id) == {"student 1": "1"}
    sent, refused = 0, 0
    for i in range(1000):  # 1,000 answers from one student: the rate limit and the bound hold
        if i < 6:
            room.advance(0.06)
        try:
            room.answer(code, "a", Q.id, 0)
            sent += 1
        except cr.AnswerRefused as e:
            refused += 1
            assert "limit" in str(e)
    assert sent == 3 and refused == 997  # 5 in all
    assert room.my_answer(code, "a", Q.id) == "0"
    room.reveal(code, token)
    with pytest.raises(cr.AnswerRefused):
        room.answer(code, "a", "some-other", 0)


def test_class_is_bounded_and_counts_who_follows(room):
    code, _token = room.open()
    for sid in ("a", "b", "c"):
        room.join(code, sid)
    room.join(code, "a")  # joining twice is one student
    with pytest.raises(cr.ClassFull):
        room.join(code, "d")
    room.heartbeat(code, "a", True)
    room.heartbeat(code, "b", False)
    room.heartbeat(code, "stranger", True)  # not a member: not counted
    assert room.presence(code) == {"here": 2, "following": 1}
    room.test_clock.t += 30  # presence is judged by the class's clock, not by expiry
    assert room.presence(code) == {"here": 0, "following": 0}


def test_export_is_anonymous_csv_and_end_deletes_everything(room):
    code, token = room.open()
    room.ask(code, token, Q.id)
    for i, sid in enumerate(["secret-session-id-1", "secret-session-id-2"]):
        room.join(code, sid)
        room.answer(code, sid, Q.id, i)
    text = room.export_csv(code, token)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["student"], r["answer"], r["right"]) for r in rows] == [
        ("student 1", Q.options[0], "yes" if Q.answer == 0 else "no"),
        ("student 2", Q.options[1], "yes" if Q.answer == 1 else "no")]
    assert "secret-session-id" not in text
    room.end(code, token)
    assert not room.exists(code) and room.view(code) is None and room.question(code) is None
    if isinstance(room.b, cr.MemoryBackend):
        assert not [k for k in room.b._d if code in k]
    else:
        assert not list(room.b.r.scan_iter(match=f"*{code}*"))


def test_classes_expire_and_opening_is_bounded(room):
    code, token = room.open()
    room.publish(code, token, "vae", {})
    if isinstance(room.b, cr.MemoryBackend):
        room.advance(61)  # the TTL has passed
        assert not room.exists(code) and room.view(code) is None
    else:
        assert 0 < room.b.r.pttl(f"{cr.PREFIX}{code}:meta") <= 60_000
    for _ in range(3):
        room.open()
    with pytest.raises(cr.ClassError, match="Too many"):
        room.open()


def test_default_classroom_uses_redis_when_configured(monkeypatch, redis_url):
    monkeypatch.delenv("GENLAB_REDIS_URL", raising=False)
    assert isinstance(cr.default_classroom().b, cr.MemoryBackend)
    monkeypatch.setenv("GENLAB_REDIS_URL", redis_url)
    a, b = cr.default_classroom(), cr.default_classroom()  # two processes' stores: the same class
    code, token = a.open()
    a.publish(code, token, "flow", {"step": "2"})
    assert b.view(code).page == "flow"


def test_a_store_that_does_not_answer_is_said_in_words_and_recovers(redis_server):
    url, proc = redis_server
    room = cr.Classroom(cr.RedisBackend(url))
    code, token = room.open()
    proc.send_signal(signal.SIGSTOP)  # Redis hangs: every call must give up within its time-out
    try:
        t0 = time.perf_counter()
        with pytest.raises(cr.StoreUnavailable, match="out of reach"):
            room.view(code)
        assert time.perf_counter() - t0 < 2.0
    finally:
        proc.send_signal(signal.SIGCONT)
    room.publish(code, token, "gan", {})
    assert room.view(code).page == "gan"
