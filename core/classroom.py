"""Class mode's state: who leads, what the class sees, the question asked and the answers. No Streamlit.

A teacher opens a class and gets a secret *lead token* and a short *class code* (80 random bits, e.g.
``k3vq-7mzp-2xfa-9rtc``); the token never leaves the teacher's link and is stored only as its SHA-256. The
teacher's session publishes what it shows (page and URL query, :meth:`Classroom.publish`); every student
session polls :meth:`Classroom.view` and follows. Only the token moves a class, asks, reveals, exports or ends
it; a student can join, report whether they follow, and answer the open question, within bounds.

Where the state lives is one small interface, :class:`Backend`, with two implementations: :class:`MemoryBackend`
(one process: a dict with expiry under a lock) and :class:`RedisBackend` (replicas: every process of the class
sees the same Redis; Redis expires keys itself). :func:`default_classroom` picks Redis when
``GENLAB_REDIS_URL`` is set. Every key of a class expires ``GENLAB_CLASS_TTL_S`` seconds (4 h by default) after
the teacher's last action, and ending a class deletes it: nothing is kept after the class unless the teacher
exported it.

Bounds (each can be set by the environment, see :class:`Limits`): students per class, answers per student,
one answer per student per second, classes opened per hour per store.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from core import questions as qs

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case: no 0/1/8/9 to misread
CODE_LEN = 16  # characters: 80 bits
_CODE_RE = re.compile(f"[{_ALPHABET}]{{{CODE_LEN}}}")
PREFIX = "genlab:class:"


class ClassError(Exception):
    """Anything a class action refuses; its message is for the person who tried."""


class NoClass(ClassError):
    pass


class NotTeacher(ClassError):
    pass


class ClassFull(ClassError):
    pass


class AnswerRefused(ClassError):
    pass


class StoreUnavailable(ClassError):
    """The shared store (Redis) did not answer: the class is out of reach for a moment, nothing is lost."""


def _env_number(name: str, default: float) -> float:
    try:
        v = float(os.environ.get(name, default))
    except ValueError:
        return default
    return v if v > 0 else default


@dataclass(frozen=True)
class Limits:
    ttl_s: float = field(default_factory=lambda: _env_number("GENLAB_CLASS_TTL_S", 4 * 3600))
    max_students: int = field(default_factory=lambda: int(_env_number("GENLAB_CLASS_MAX_STUDENTS", 500)))
    max_answers: int = field(default_factory=lambda: int(_env_number("GENLAB_CLASS_MAX_ANSWERS", 100)))
    answer_interval_s: float = field(default_factory=lambda: _env_number("GENLAB_CLASS_ANSWER_INTERVAL_S", 1.0))
    opens_per_hour: int = field(default_factory=lambda: int(_env_number("GENLAB_CLASS_OPENS_PER_HOUR", 200)))
    follow_window_s: float = 8.0  # a student seen within this many seconds counts as present


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LEN))


def normalize_code(text) -> str | None:
    """A class code as typed or linked (any case, dashes or spaces) -> its canonical form, or None."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    s = re.sub(r"[\s-]", "", text).lower()
    return s if _CODE_RE.fullmatch(s) else None


def pretty_code(code: str) -> str:
    """``k3vq7mzp2xfa9rtc`` -> ``k3vq-7mzp-2xfa-9rtc`` (for reading aloud and typing)."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- where the state lives

class Backend:
    """The few atomic operations class mode needs; values are strings, every write sets the key's TTL."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl_s: float) -> None: ...
    def set_nx(self, key: str, value: str, ttl_s: float) -> bool: ...  # True if it was not there
    def incr(self, key: str, ttl_s: float) -> int: ...
    def hset(self, key: str, fld: str, value: str, ttl_s: float) -> None: ...
    def hget(self, key: str, fld: str) -> str | None: ...
    def hgetall(self, key: str) -> dict[str, str]: ...
    def hlen(self, key: str) -> int: ...
    def expire(self, key: str, ttl_s: float) -> None: ...
    def expire_many(self, keys: list[str], ttl_s: float) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...


class MemoryBackend(Backend):
    """One process: a dict of (value, expiry) under one lock. Expired keys vanish when touched, and a sweep
    every 256 writes drops the rest, so memory follows the classes that are alive."""

    def __init__(self, clock=time.monotonic):
        self._d: dict[str, tuple[object, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._writes = 0

    def _live(self, key):
        item = self._d.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._d[key]
            return None
        return item[0]

    def _put(self, key, value, ttl_s):
        self._d[key] = (value, self._clock() + ttl_s)
        self._writes += 1
        if self._writes % 256 == 0:
            now = self._clock()
            for k in [k for k, (_, exp) in self._d.items() if exp <= now]:
                del self._d[k]

    def get(self, key):
        with self._lock:
            v = self._live(key)
            return v if isinstance(v, str) else None

    def set(self, key, value, ttl_s):
        with self._lock:
            self._put(key, str(value), ttl_s)

    def set_nx(self, key, value, ttl_s):
        with self._lock:
            if self._live(key) is not None:
                return False
            self._put(key, str(value), ttl_s)
            return True

    def incr(self, key, ttl_s):
        with self._lock:
            v = self._live(key)
            n = (int(v) if isinstance(v, str) else 0) + 1
            self._put(key, str(n), ttl_s)
            return n

    def hset(self, key, fld, value, ttl_s):
        with self._lock:
            h = self._live(key)
            h = dict(h) if isinstance(h, dict) else {}
            h[fld] = str(value)
            self._put(key, h, ttl_s)

    def hget(self, key, fld):
        with self._lock:
            h = self._live(key)
            return h.get(fld) if isinstance(h, dict) else None

    def hgetall(self, key):
        with self._lock:
            h = self._live(key)
            return dict(h) if isinstance(h, dict) else {}

    def hlen(self, key):
        with self._lock:
            h = self._live(key)
            return len(h) if isinstance(h, dict) else 0

    def expire(self, key, ttl_s):
        with self._lock:
            v = self._live(key)
            if v is not None:
                self._d[key] = (v, self._clock() + ttl_s)

    def expire_many(self, keys, ttl_s):
        for key in keys:
            self.expire(key, ttl_s)

    def delete_prefix(self, prefix):
        with self._lock:
            for k in [k for k in self._d if k.startswith(prefix)]:
                del self._d[k]

    def __len__(self):
        with self._lock:
            return len(self._d)


def _reachable(method):
    """A Redis error becomes :class:`StoreUnavailable` (a ClassError the app says in words and retries)."""
    import functools

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except self.errors as e:
            raise StoreUnavailable("The class is out of reach for a moment (its store does not answer); "
                                   "it carries on by itself when the store is back.") from e
    return call


class RedisBackend(Backend):
    """Replicas: the same operations on Redis (``redis`` client from PyPI); Redis expires keys itself.

    A store that does not answer costs a session at most ``timeout_s`` (0.5 s) per call and raises
    :class:`StoreUnavailable`, never a traceback: a student's poll skips the tick, a page says so."""

    def __init__(self, url: str, timeout_s: float = 0.5):
        import redis

        self.errors = (redis.RedisError, OSError)
        self.r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s,
                                      socket_connect_timeout=timeout_s, health_check_interval=30)

    @staticmethod
    def _ms(ttl_s):
        return max(1, int(ttl_s * 1000))

    @_reachable
    def get(self, key):
        return self.r.get(key)

    @_reachable
    def set(self, key, value, ttl_s):
        self.r.set(key, str(value), px=self._ms(ttl_s))

    @_reachable
    def set_nx(self, key, value, ttl_s):
        return bool(self.r.set(key, str(value), px=self._ms(ttl_s), nx=True))

    @_reachable
    def incr(self, key, ttl_s):
        p = self.r.pipeline()
        p.incr(key)
        p.pexpire(key, self._ms(ttl_s))
        return int(p.execute()[0])

    @_reachable
    def hset(self, key, fld, value, ttl_s):
        p = self.r.pipeline()
        p.hset(key, fld, str(value))
        p.pexpire(key, self._ms(ttl_s))
        p.execute()

    @_reachable
    def hget(self, key, fld):
        return self.r.hget(key, fld)

    @_reachable
    def hgetall(self, key):
        return self.r.hgetall(key)

    @_reachable
    def hlen(self, key):
        return int(self.r.hlen(key))

    @_reachable
    def expire(self, key, ttl_s):
        self.r.pexpire(key, self._ms(ttl_s))

    @_reachable
    def expire_many(self, keys, ttl_s):
        p = self.r.pipeline(transaction=False)
        for key in keys:
            p.pexpire(key, self._ms(ttl_s))
        p.execute()

    @_reachable
    def delete_prefix(self, prefix):
        keys = list(self.r.scan_iter(match=prefix.replace("*", r"\*") + "*", count=500))
        for i in range(0, len(keys), 500):
            self.r.delete(*keys[i:i + 500])


# ---- the class

@dataclass(frozen=True)
class ClassView:
    """What the teacher shows: ``page`` (a url_path, "" for home) and the URL ``query`` of that view."""
    version: int
    page: str
    query: dict


@dataclass(frozen=True)
class AskedQuestion:
    id: str
    revealed: bool
    seq: int  # counts every ask and reveal: a student's screen redraws when it changes


class Classroom:
    """Class mode's rules over one :class:`Backend` (one per process; thread-safe through the backend)."""

    def __init__(self, backend: Backend | None = None, limits: Limits | None = None, clock=time.time):
        self.b = backend if backend is not None else MemoryBackend()
        self.limits = limits or Limits()
        self.clock = clock

    # -- keys
    @staticmethod
    def _k(code: str, part: str) -> str:
        return f"{PREFIX}{code}:{part}"

    def _ttl(self) -> float:
        return self.limits.ttl_s

    def _meta(self, code) -> dict:
        code = normalize_code(code)
        raw = self.b.get(self._k(code, "meta")) if code else None
        if raw is None:
            raise NoClass("This class is not open: it ended, expired, or the code is wrong.")
        return json.loads(raw)

    def _check_teacher(self, code, token) -> str:
        meta = self._meta(code)
        if not isinstance(token, str) or not hmac.compare_digest(meta["token"], _digest(token)):
            raise NotTeacher("Only the teacher's lead link can do that.")
        return normalize_code(code)

    def _touch(self, code: str) -> None:
        """The teacher acted: every key of the class lives another TTL."""
        keys = [self._k(code, part) for part in ("meta", "view", "question", "students", "anon", "asked", "joined")]
        keys += [self._k(code, f"answers:{qid}") for qid in self.b.hgetall(self._k(code, "asked"))]
        self.b.expire_many(keys, self._ttl())

    # -- the teacher
    def open(self) -> tuple[str, str]:
        """A new class: ``(code, lead_token)``. Refused past the store's bound on classes opened per hour."""
        hour = int(self.clock() // 3600)
        if self.b.incr(f"{PREFIX}opened:{hour}", 3600) > self.limits.opens_per_hour:
            raise ClassError("Too many classes were opened on this server in the last hour; try again later.")
        token = secrets.token_urlsafe(24)
        while True:
            code = new_code()
            if self.b.set_nx(self._k(code, "meta"), json.dumps({"token": _digest(token), "opened": self.clock()}),
                             self._ttl()):
                return code, token

    def is_teacher(self, code, token) -> bool:
        try:
            self._check_teacher(code, token)
            return True
        except (NoClass, NotTeacher):  # a store out of reach is not a "no": StoreUnavailable goes up
            return False

    def publish(self, code, token, page: str, query: dict) -> int:
        """The teacher's view: stored with a new version when it differs from the last one. Returns the version."""
        code = self._check_teacher(code, token)
        query = {str(k)[:64]: str(v)[:2000] for k, v in list(query.items())[:64] if k != "present"}
        now = self.view(code)
        if now is not None and now.page == page and now.query == query:
            self._touch(code)
            return now.version
        version = (now.version if now else 0) + 1
        self.b.set(self._k(code, "view"), json.dumps({"v": version, "page": page, "query": query}), self._ttl())
        self._touch(code)
        return version

    def ask(self, code, token, qid: str) -> AskedQuestion:
        code = self._check_teacher(code, token)
        if qs.by_id(qid) is None:
            raise ClassError(f"There is no question {qid!r}.")
        return self._set_question(code, qid, False)

    def reveal(self, code, token) -> AskedQuestion:
        code = self._check_teacher(code, token)
        q = self.question(code)
        if q is None:
            raise ClassError("No question is asked now.")
        return self._set_question(code, q.id, True)

    def close_question(self, code, token) -> None:
        code = self._check_teacher(code, token)
        seq = (self.question(code) or AskedQuestion("", False, 0)).seq
        self.b.set(self._k(code, "question"), json.dumps({"id": "", "revealed": False, "seq": seq + 1}), self._ttl())

    def _set_question(self, code, qid, revealed) -> AskedQuestion:
        seq = (self.question(code) or AskedQuestion("", False, 0)).seq + 1
        self.b.set(self._k(code, "question"), json.dumps({"id": qid, "revealed": revealed, "seq": seq}), self._ttl())
        self.b.hset(self._k(code, "asked"), qid, str(self.clock()), self._ttl())
        self._touch(code)
        return AskedQuestion(qid, revealed, seq)

    def results(self, code, token, qid: str) -> dict[str, str]:
        """Anonymous student number -> canonical answer, for one question (teacher only)."""
        code = self._check_teacher(code, token)
        return self._results(code, qid, self.b.hgetall(self._k(code, "anon")))

    def _results(self, code: str, qid: str, anon: dict[str, str]) -> dict[str, str]:
        return {anon.get(sid, "?"): a for sid, a in self.b.hgetall(self._k(code, f"answers:{qid}")).items()}

    def export_csv(self, code, token) -> str:
        """Every answer of the class as CSV: question, step, anonymous student number, answer, right or not.
        No names, no times, nothing a student typed (answers are canonical choices or numbers)."""
        code = self._check_teacher(code, token)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["question_id", "page", "step", "question", "student", "answer", "right"])
        asked = self.b.hgetall(self._k(code, "asked"))
        anon = self.b.hgetall(self._k(code, "anon"))  # once for the whole export, as the teacher's check
        for qid in sorted(asked, key=lambda k: float(asked[k])):
            q = qs.by_id(qid)
            if q is None:
                continue
            rows = self._results(code, qid, anon)
            for student in sorted(rows, key=lambda s: (len(s), s)):
                a = rows[student]
                w.writerow([q.id, q.page, q.step, q.prompt, student, q.label(a), "yes" if q.is_right(a) else "no"])
        return out.getvalue()

    def end(self, code, token) -> None:
        """End the class: every key of it is deleted at once."""
        code = self._check_teacher(code, token)
        self.b.delete_prefix(self._k(code, ""))

    def presence(self, code, token=None) -> dict:
        """How many students are here now, and how many of them follow the teacher."""
        code = normalize_code(code) or ""
        now, here, following = self.clock(), 0, 0
        for v in self.b.hgetall(self._k(code, "students")).values():
            seen, _, f = v.partition(":")
            try:
                if now - float(seen) <= self.limits.follow_window_s:
                    here += 1
                    following += f == "1"
            except ValueError:
                continue
        return {"here": here, "following": following}

    # -- everyone
    def exists(self, code) -> bool:
        try:
            self._meta(code)
            return True
        except NoClass:
            return False

    def _json(self, code, part: str) -> dict | None:
        code = normalize_code(code)
        raw = self.b.get(self._k(code, part)) if code else None
        return json.loads(raw) if raw is not None else None

    def view(self, code) -> ClassView | None:
        d = self._json(code, "view")
        return ClassView(int(d["v"]), str(d["page"]), dict(d["query"])) if d else None

    def question(self, code) -> AskedQuestion | None:
        d = self._json(code, "question")
        return AskedQuestion(str(d["id"]), bool(d["revealed"]), int(d["seq"])) if d and d["id"] else None

    def question_seq(self, code) -> int:
        d = self._json(code, "question")
        return int(d["seq"]) if d else 0

    # -- a student
    def join(self, code, sid: str) -> None:
        """A student session joins (idempotent). Refused when the class is full or not open."""
        code = normalize_code(code)
        self._meta(code)
        anon = self._k(code, "anon")
        if self.b.hget(anon, sid) is not None:
            return
        if self.b.hlen(anon) >= self.limits.max_students:
            raise ClassFull(f"This class is full ({self.limits.max_students} students).")
        n = self.b.incr(self._k(code, "joined"), self._ttl())
        self.b.hset(anon, sid, f"student {n}", self._ttl())

    def heartbeat(self, code, sid: str, following: bool) -> None:
        code = normalize_code(code)
        if code and self.b.hget(self._k(code, "anon"), sid) is not None:
            self.b.hset(self._k(code, "students"), sid, f"{self.clock():.3f}:{int(bool(following))}", self._ttl())

    def answer(self, code, sid: str, qid: str, raw) -> str:
        """A student's answer to the open question: stored in canonical form (replacing their earlier one)
        and returned. Refused when the question is not the one open, the answer is not one, or the student
        is over their bounds (one answer a second, ``max_answers`` in all)."""
        code = normalize_code(code)
        self._meta(code)
        if self.b.hget(self._k(code, "anon"), sid) is None:
            raise AnswerRefused("Join the class first.")
        asked = self.question(code)
        if asked is None or asked.id != qid or asked.revealed:
            raise AnswerRefused("This question is not open for answers now.")
        q = qs.by_id(qid)
        try:
            canonical = q.parse(raw)
        except ValueError as e:
            raise AnswerRefused(f"That is not an answer: {e}.") from None
        count = self._k(code, f"count:{sid}")
        limit = AnswerRefused(f"You have sent {self.limits.max_answers} answers in this class: that is the limit.")
        if int(self.b.get(count) or 0) >= self.limits.max_answers:
            raise limit
        if not self.b.set_nx(self._k(code, f"rate:{sid}"), "1", self.limits.answer_interval_s):
            raise AnswerRefused("One answer a second, please.")
        if self.b.incr(count, self._ttl()) > self.limits.max_answers:
            raise limit
        self.b.hset(self._k(code, f"answers:{qid}"), sid, canonical, self._ttl())
        return canonical

    def my_answer(self, code, sid: str, qid: str) -> str | None:
        code = normalize_code(code)
        return self.b.hget(self._k(code, f"answers:{qid}"), sid) if code else None


def default_classroom() -> Classroom:
    """The process's class store: Redis at ``GENLAB_REDIS_URL`` (replicas share it), else in memory."""
    url = os.environ.get("GENLAB_REDIS_URL", "").strip()
    return Classroom(RedisBackend(url) if url else MemoryBackend())
