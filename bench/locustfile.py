"""Locust load test of GenLab that speaks Streamlit's websocket protocol: the server's work, no browsers.

    .venv/bin/locust -f bench/locustfile.py --headless -u 30 -r 30 --run-time 5m \\
        --host http://127.0.0.1:8501 --scenario same-link --csv .cache/locust/genlab
    .venv/bin/locust -f bench/locustfile.py --headless -u 10 -r 10 --run-time 15m \\
        --host http://127.0.0.1:8501 --scenario lesson-walk --records .cache/locust/walk.jsonl

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

Locust statistics: request type = kind of interaction (``open`` by URL, ``navigate`` from the sidebar,
``widget``, ``train``, ``sample``), name = the page's url path, time = until the server finished the run
(``script_finished``). A failure is an exception box on the page, a time-out (``--interaction-timeout``),
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
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gevent
from locust import User, constant, events, tag, task
from locust.exception import StopUser
from locust.runners import LocalRunner

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.app_pages import PAGES  # noqa: E402
from core.lessons import LESSONS  # noqa: E402
from tests.stclient import RunResult, StreamlitClient  # noqa: E402

SCENARIOS = ("same-link", "lesson-walk")
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


_done = {"users": 0}
_records = {"file": None}


@events.test_start.add_listener
def _start(environment, **_kw):
    _done["users"] = 0
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
