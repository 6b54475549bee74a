"""Locust load test of GenLab that speaks Streamlit's websocket protocol: the server's work, no browsers.

    .venv/bin/locust -f bench/locustfile.py --headless -u 30 -r 30 --run-time 5m \\
        --host http://127.0.0.1:8501 --scenario same-link --csv .cache/locust/genlab
    .venv/bin/locust -f bench/locustfile.py --headless -u 10 -r 10 --run-time 15m \\
        --host http://127.0.0.1:8501 --scenario lesson-walk --records .cache/locust/walk.jsonl
    .venv/bin/locust -f bench/locustfile.py --headless -u 31 -r 31 --run-time 3m \\
        --host http://127.0.0.1:8501 --scenario class-follow --records .cache/locust/follow.jsonl

``bench/bench_class.py`` runs this against the bare reference app, one GenLab process and N replicas behind
HAProxy, and prints the tables. Each simulated user is a :class:`tests.stclient.StreamlitClient`: it opens
pages and moves widgets the way Streamlit's frontend does, so the server runs exactly what a student's
browser would make it run, while the load generator stays cheap (one Locust process drives hundreds of
users; no HTML, JavaScript or drawing).

Scenarios (``--scenario``, or Locust's ``--tags same-link`` / ``--tags lesson-walk``):

* ``same-link``: every user opens the same lesson link once (``--link``, default the first lesson:
  ``bayes?walkthrough=true&step=1&hide=code``). With ``-r`` equal to ``-u`` the N users arrive within one
  second: a class opening the link the teacher just handed out.
* ``lesson-walk``: every user walks the lecture once, every page of ``core.app_pages`` in order: a page
  with a lesson link (``LINKS``: the GAN's 100-iteration Train, the 250-step flow, two small text-to-image
  samples) is opened by that URL (a new session, as a browser loading a link), any other page from the
  sidebar of the open session (``navigate``); on each page two widget changes (the first two visible sliders
  of the main area nudged by one step, or the only one there forth and back), then the page's button where it
  has one (GAN "Train", flow "Train live", text to image "New seed"), as ``bench/bench_load.py`` does in
  browsers. ``--pages bayes,gan`` walks only those pages.
* ``class-follow``: a class in class mode (``core/class_ui.py``). The first user is the teacher, the other
  ``-u`` minus one are students (``-u 31``: 30 students). The teacher opens a class on the home page and shares
  its code with the students through this process (a gevent event; so one Locust process, not master/worker);
  each student opens the join link and from then on ticks its poll fragment once a second, as a browser's
  ``run_every`` timer does. The teacher walks the GAN page's walkthrough, steps 1..``--class-steps`` (default 7),
  one change every ``--step-every`` seconds (default 4); on a step with a question (``core.questions``: 5, 6 and
  7) it asks, reruns its page every 2 s until every student's answer is counted (at most ``--answer-wait``
  seconds), reveals, and moves on. Each student answers each question once (the right answer), through the
  question's form. Run it against several replicas only with the shared store (``deploy.cluster`` starts Redis
  for more than one replica; ``bench/bench_class.py``'s servers do).

Locust statistics: request type = kind of interaction (``open`` by URL, ``navigate`` from the sidebar,
``widget``, ``train``, ``sample``), name = the page's url path, time = until the server finished the run
(``script_finished``). In ``class-follow``: ``join`` (a student opens the join link), ``follow`` (name = the
step; time = the *follow delay*: from the end of the teacher's run that published the step to the end of the
student's first run that shows it; a step a student never showed before the next one is a failure),
``answer`` (a student sends an answer: time until the server confirmed it; refused or unconfirmed is a failure),
``class`` (the teacher opening the class, moving, asking, revealing) and ``tally`` (time from the teacher's ask
until its screen counts every student's answer; fewer within ``--answer-wait`` is a failure). A failure is an exception box on the page, a time-out (``--interaction-timeout``),
a dropped socket, a page not found or a protocol error. After a failure the user's next page starts afresh
(opened by URL). Bounded: each user does its finite path once and stops; when all are done the run ends
(``--run-time`` caps it anyway).

``--records FILE`` appends one JSON line per interaction (exact percentiles, per-user detail: what
``bench_class.py`` reads). Beyond one machine, Locust's own master/worker mode spreads the users over
several load generators with this same file (``--master`` here, ``--worker --master-host ...`` there; give
each worker its own ``--records`` and bound the run with ``--run-time``).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gevent
import gevent.event
from locust import User, constant, events, tag, task
from locust.exception import StopUser
from locust.runners import LocalRunner

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_follow import POLL_S, Change, FollowClient, answered, follow_delay, open_class  # noqa: E402
from core import questions as qs  # noqa: E402
from core.app_pages import PAGES  # noqa: E402
from core.lessons import LESSONS  # noqa: E402
from tests.stclient import RunResult, StreamlitClient  # noqa: E402

SCENARIOS = ("same-link", "lesson-walk", "class-follow")
DEFAULT_LINK = LESSONS[0].link().lstrip("/")  # bayes?walkthrough=true&step=1&hide=code


@dataclass(frozen=True)
class Stop:
    """One page of the walk: its url path, the query of its lesson link ("" = open from the sidebar), and
    the button to press there (its label or key) with the kind of interaction that press is."""
    page: str
    query: str = ""
    button: str | None = None
    kind: str = "train"


#: Pages whose lesson has a link and a bounded heavy action (the browser bench's choices, bench/bench_load.py).
LINKS = {
    "gan": Stop("gan", "n=100", "Train"),                                  # 100 iterations, own session's model
    "flow": Stop("flow", "steps=250", "train"),  # by key ("Train live", "Retrain" once stored); 250 steps
    "text_to_image": Stop("text_to_image", "n=2&steps=10", "New seed", "sample"),
}
WALK = [LINKS.get(p.url_path, Stop(p.url_path)) for p in PAGES]


@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--scenario", choices=SCENARIOS, default=os.environ.get("GENLAB_SCENARIO", "same-link"),
                        help="same-link: every user opens one lesson link; lesson-walk: every user walks the lecture")
    parser.add_argument("--link", default=DEFAULT_LINK, help=f"the link of same-link (default {DEFAULT_LINK})")
    parser.add_argument("--interaction-timeout", type=float, default=60.0,
                        help="seconds one interaction may take before it counts as a failure (default 60)")
    parser.add_argument("--pages", default="", help="lesson-walk: only these pages, comma-separated url paths "
                        "(default every page of core.app_pages)")
    parser.add_argument("--records", default="", help="append one JSON line per interaction to this file")
    parser.add_argument("--no-message-cache", action="store_true",
                        help="advertise no cached messages (the server sends every message in full)")
    parser.add_argument("--class-steps", type=int, default=7,
                        help="class-follow: the teacher walks the GAN walkthrough's steps 1..N (default 7)")
    parser.add_argument("--step-every", type=float, default=4.0,
                        help="class-follow: seconds between the teacher's changes (default 4)")
    parser.add_argument("--answer-wait", type=float, default=15.0,
                        help="class-follow: seconds the teacher waits for every answer before revealing (default 15)")


class _Class:
    """class-follow's shared state in this one Locust process: the teacher's code and moves, the students' count."""

    def __init__(self):
        self.teacher = None
        self.code = ""
        self.ready = gevent.event.Event()  # the class is open: students may join
        self.done = gevent.event.Event()   # the walk is over: students stop
        self.changes: list[Change] = []  # what the class must show, and when the teacher's run publishing it ended
        self.names: list[str] = []  # each change's name ("gan step 3")
        self.joined = 0


_class = {"now": _Class()}


_done = {"users": 0}
_records = {"file": None}


@events.test_start.add_listener
def _start(environment, **_kw):
    _done["users"] = 0
    _class["now"] = _Class()
    path = getattr(environment.parsed_options, "records", "")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _records["file"] = open(path, "a")


@events.test_stop.add_listener
def _stop(environment, **_kw):
    if _records["file"] is not None:
        _records["file"].close()
        _records["file"] = None


class StreamlitUser(User):
    """A student: one browser tab's worth of protocol (a :class:`StreamlitClient`), one path, then done."""

    wait_time = constant(0)

    def __init__(self, environment):
        super().__init__(environment)
        opts = environment.parsed_options
        self.scenario = getattr(opts, "scenario", "same-link")
        self.link = getattr(opts, "link", DEFAULT_LINK).lstrip("/")
        self.step_timeout = float(getattr(opts, "interaction_timeout", 60.0))
        if not (getattr(opts, "tags", None) or getattr(opts, "exclude_tags", None)):
            # no --tags given: the task of --scenario only (with --tags Locust has already filtered them)
            self.tasks = [t for t in self.tasks if self.scenario in getattr(t, "locust_tag_set", ())]
        self.client = StreamlitClient(self.host, timeout=self.step_timeout,
                                      cache=not getattr(opts, "no_message_cache", False))
        self.broken = False  # the last interaction failed: the next page is opened afresh, by URL
        only = [p.strip() for p in (getattr(opts, "pages", "") or "").split(",") if p.strip()]
        unknown = set(only) - {s.page for s in WALK}
        if unknown:
            raise ValueError(f"--pages: not pages of core.app_pages: {sorted(unknown)}")
        self.walk = [s for s in WALK if not only or s.page in only]

    # ---- reporting

    def _report(self, kind: str, name: str, r: RunResult) -> RunResult:
        failed = not r.ok
        self.broken = self.broken or failed
        self.environment.events.request.fire(
            request_type=kind, name=name, response_time=r.elapsed_s * 1000, response_length=r.bytes,
            exception=RuntimeError(f"{r.status}: {r.error}") if failed else None,
            context={"status": r.status, "messages": r.messages})
        f = _records["file"]
        if f is not None:
            f.write(json.dumps({"t": time.time(), "user": id(self), "kind": kind, "name": name, "target": r.target,
                                "ok": not failed, "status": r.status, "seconds": round(r.elapsed_s, 4),
                                "connect_s": round(r.connect_s, 4), "messages": r.messages, "bytes": r.bytes,
                                "cache_refs": r.cache_refs,
                                "error": r.error[:300]}) + "\n")
            f.flush()
        return r

    def _fire(self, kind: str, name: str, seconds: float, error: str = "") -> None:
        """A measure that is not one run (a follow delay, a tally): reported like one."""
        self._report(kind, name, RunResult(kind, name, status="error" if error else "ok", elapsed_s=seconds,
                                           error=error))

    def _missing(self, kind: str, name: str, what: str) -> None:
        """An interaction the path asks for but the page did not offer (a failure: the page changed)."""
        self._report(kind, name, RunResult(kind, name, status="error", elapsed_s=0.0, error=what))

    # ---- the scenarios

    @tag("same-link")
    @task
    def same_link(self):
        page = self.link.split("?")[0] or "home"
        self._report("open", page, self.client.open(self.link))
        self._finish()

    @tag("lesson-walk")
    @task
    def lesson_walk(self):
        first = True
        for stop in self.walk:
            name = stop.page or "home"
            if first or stop.query or self.broken or stop.page not in self.client.pages:
                self.broken = False
                r = self._report("open", name, self.client.open(stop.page, stop.query))
            else:
                r = self._report("navigate", name, self.client.navigate(stop.page))
            first = False
            if not r.ok:
                continue
            self._nudge_two(name)
            if stop.button and not self.broken:
                try:
                    self.client.widget(stop.button, ("button",))
                except KeyError as e:
                    self._missing(stop.kind, name, f"no button {stop.button!r}: {e}"[:300])
                    continue
                self._report(stop.kind, name, self.client.click(stop.button))
        self._finish()

    @tag("class-follow")
    @task
    def class_follow(self):
        cls = _class["now"]
        if cls.teacher is None:
            cls.teacher = self
            self._teach(cls)
        else:
            self._follow(cls)
        self._finish()

    def _teach(self, cls: _Class) -> None:
        opts = self.environment.parsed_options
        steps, every = int(opts.class_steps), float(opts.step_every)
        self.client = FollowClient(self.host, timeout=self.step_timeout)
        t = self.client
        try:
            cls.code, _ = open_class(t)
        except RuntimeError as e:
            self._fire("class", "open a class", 0.0, str(e)[:300])
            cls.done.set()
            cls.ready.set()
            return
        self._fire("class", "open a class", t.last_result.elapsed_s)
        cls.ready.set()
        students = max(0, (getattr(opts, "num_users", 1) or 1) - 1)
        deadline = time.perf_counter() + 60
        while cls.joined < students and time.perf_counter() < deadline:
            gevent.sleep(0.2)
        try:
            for name, action in (("gan", lambda: t.navigate("gan")),
                                 ("walkthrough on", lambda: t.set_widget("walkthrough", True))):
                if not self._report("class", name, action()).ok:
                    return
            titles = t.widget("step").options
            for k in range(1, min(steps, len(titles)) + 1):
                if k > 1 and not self._report("class", f"step {k}", t.set_widget("step", titles[k - 1])).ok:
                    return
                cls.changes.append(Change(t.shown(), time.perf_counter()))
                cls.names.append(f"gan step {k}")
                q = qs.for_step("gan", k)
                gevent.sleep(every)
                if q is not None:
                    self._ask(cls, q, float(opts.answer_wait))
        finally:
            gevent.sleep(every)  # the last change gets as long as the others
            cls.done.set()
            gevent.sleep(2 * POLL_S)  # the students' last ticks end
            try:
                t.widget("genlab_class_end")
                self._report("class", "end the class", t.click("genlab_class_end"))
            except KeyError:
                pass

    def _ask(self, cls: _Class, q, wait_s: float) -> None:
        t = self.client
        if not self._report("class", "ask", t.click("genlab_class_ask")).ok:
            return
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < wait_s:
            r = t.rerun()
            n = answered(t) if r.ok else n
            if n >= cls.joined:
                break
            gevent.sleep(2.0)  # core.class_ui.TEACHER_POLL_S
        self._fire("tally", q.id, time.perf_counter() - t0,
                   "" if n >= cls.joined else f"{n} of {cls.joined} answers counted after {wait_s:.0f} s")
        self._report("class", "reveal", t.click("genlab_class_reveal"))
        gevent.sleep(2.0)

    def _follow(self, cls: _Class) -> None:
        if not cls.ready.wait(90) or not cls.code:
            self._fire("join", "class", 0.0, "the teacher opened no class")
            return
        self.client = FollowClient(self.host, timeout=self.step_timeout)
        s = self.client
        r = self._report("join", "class", s.open("", f"class={cls.code}"))
        if not r.ok:
            return
        if s.poll_id is None or "Following your teacher" not in s.text():
            self._fire("join", "class", 0.0, "joined, but not following (no poll on the page)")
            return
        cls.joined += 1
        reported: set[int] = set()
        answers: set[str] = set()
        seen: list[tuple[tuple, float]] = [(s.shown(), time.perf_counter())]

        def report(final: bool = False) -> None:
            # a change counts once the next is published (or at the end), or at once if shown after its publication
            for i in range(len(cls.changes)):
                if i in reported:
                    continue
                d = follow_delay(seen, cls.changes, i)
                if d is not None:
                    reported.add(i)
                    self._fire("follow", cls.names[i], d)
                elif final or i + 1 < len(cls.changes):
                    reported.add(i)
                    self._fire("follow", cls.names[i], 0.0, "the student never showed this step before the next")
        nxt = time.perf_counter() + random.random() * POLL_S
        while not cls.done.is_set():
            gevent.sleep(max(0.0, nxt - time.perf_counter()))
            nxt = max(nxt + POLL_S, time.perf_counter())
            if cls.done.is_set():
                break
            r = s.tick()
            if not r.ok:
                self._report("tick", "poll", r)
                if not s.connected:
                    break
                continue
            shown = s.shown()
            if shown != seen[-1][0]:
                seen.append((shown, time.perf_counter()))
            report()
            self._answer(answers)
        report(final=True)

    def _answer(self, answered_ids: set[str]) -> None:
        """Answer the question on the page, once (the right answer, through its form)."""
        s = self.client
        send = [w for w in s.widgets if w.type == "button" and "FormSubmitter:genlab_class_answer_" in w.id]
        if not send:
            return
        qid = send[0].id.split("FormSubmitter:genlab_class_answer_", 1)[1].rsplit("-", 1)[0]
        q = qs.by_id(qid)
        if q is None or qid in answered_ids:
            return
        answered_ids.add(qid)
        try:
            if q.kind == "number":
                s.set_widget("Your answer", float(q.answer))
            elif q.kind == "choice":
                s.set_widget("Your answer", q.options[int(q.answer)])
            else:
                s.set_widget("Pick every panel that applies", [q.options[i] for i in q.answer])
        except (KeyError, ValueError) as e:
            self._missing("answer", qid, f"the question's form: {e}"[:300])
            return
        r = s.click(send[0].id)
        if r.ok and "Your answer:" not in s.text():
            r.status, r.error = "error", "no 'Your answer' after Send: " + " / ".join(
                t[:80] for t in s.texts(("alert",)))[:250]
        self._report("answer", qid, r)

    def _nudge_two(self, name: str) -> None:
        """Two widget changes: the first two visible sliders of the main area one step to the right (at its
        maximum: to the left), or the only one right and back. A browser user sees no folded or hidden one."""
        sliders = [w for w in self.client.widgets if w.type == "slider" and not w.in_sidebar and not w.folded
                   and not w.inside(key_prefix="genlab_hidden_")]
        if not sliders:
            self._missing("widget", name, "no visible slider in the main area")
            return
        plan = [(sliders[0], 1), (sliders[1], 1)] if len(sliders) > 1 else [(sliders[0], 1), (sliders[0], -1)]
        for w, direction in plan:
            if self.broken:
                return
            try:
                w = self.client.widget(w.key or w.id)  # the page may have redrawn it
            except KeyError:
                self._missing("widget", name, f"slider {w.key or w.label!r} gone after the previous change")
                return
            p = w.element.proto
            step = p.step or 1
            value = w.value[0] if isinstance(w.value, tuple) else w.value
            new = value + direction * step
            if not p.min <= new <= p.max:
                new = value - direction * step
            if isinstance(w.value, tuple):
                new = (new, *w.value[1:])
            self._report("widget", name, self.client.set_widget(w.key or w.id, new))

    def _finish(self):
        """This user's path is over: close its tab; the last user done ends the run (a local runner)."""
        self.client.close()
        _done["users"] += 1
        runner = self.environment.runner
        target = getattr(self.environment.parsed_options, "num_users", None) or getattr(runner, "target_user_count", 0)
        if isinstance(runner, LocalRunner) and target and _done["users"] >= target:
            gevent.spawn_later(0.1, runner.quit)
        raise StopUser()

    def on_stop(self):
        self.client.close()
