"""Class mode in the app: the teacher leads, students follow and answer. The Streamlit side of core/classroom.py.

The router calls three things: :func:`begin` after ``st.navigation`` and before the page (join from a link,
take the lead from a lead link, and for a following student: switch to the teacher's page and hand the teacher's
view to :class:`core.ui.UrlState`, which sets every widget to the teacher's value); :func:`panel` after the
page (the teacher publishes what they show, and the class bar is drawn above the page); and :func:`publish`
from fragments (a widget inside a fragment moves the class too).

A following student's screen changes within about a second of the teacher's: a small fragment polls the store
every second (:data:`POLL_S`) and reruns the app when the teacher's view or question changed. A student who
moves a control, or opens another page, explores on their own from then on; *Catch up* follows again.

Nothing a student sends is ever shown as text on another screen: answers are choices, picks or numbers
(``core.questions.Question.parse``), and the teacher sees them only as counts.
"""
from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode, urlsplit

import streamlit as st

from core import classroom as cr
from core import questions as qs
from core.ui import forget_forced

_KEY = "_genlab_class"
_GOTO = "_genlab_class_goto"  # the teacher's "Next lesson": (page, step, the lesson's settings) for the next run
_PAGES: dict = {}  # url_path -> st.Page, as the router gave them (begin)
POLL_S = 1.0          # a following student checks the teacher's view this often
TEACHER_POLL_S = 2.0  # the teacher's count of followers and live answers refresh this often


@st.cache_resource(show_spinner=False)
def room() -> cr.Classroom:
    """The process's class store (Redis when ``GENLAB_REDIS_URL`` is set: every replica sees every class)."""
    return cr.default_classroom()


def session(role: str | None = None) -> dict | None:
    """This session's part in a class: ``{"code", "role": "lead" | "student", ...}``, or None (also when
    ``role`` is given and the session's is another)."""
    me = st.session_state.get(_KEY)
    return me if me and (role is None or me["role"] == role) else None


def _origin() -> str:
    try:
        u = urlsplit(st.context.url or "")
        return f"{u.scheme}://{u.netloc}" if u.scheme and u.netloc else ""
    except Exception:  # noqa: BLE001 - AppTest has no URL
        return ""


def join_link(code: str) -> str:
    return f"{_origin()}/?{urlencode({'class': cr.pretty_code(code)})}"


def lead_link(code: str, token: str) -> str:
    return f"{_origin()}/?{urlencode({'class': cr.pretty_code(code), 'lead': token})}"


def open_class() -> dict:
    """Open a class with this session as its teacher (the home page's button)."""
    code, token = room().open()
    st.session_state[_KEY] = {"code": code, "role": "lead", "token": token, "show_code": True}
    st.query_params["class"] = cr.pretty_code(code)
    return st.session_state[_KEY]


def _leave(message: str | None = None) -> None:
    me = st.session_state.pop(_KEY, None)
    if me and me.get("role") == "lead":
        st.session_state["_genlab_class_forget_cookie"] = True
    for k in ("class", "lead"):
        if k in st.query_params:
            del st.query_params[k]
    if message:
        st.session_state["_genlab_class_notice"] = message


COOKIE = "genlab_lead"  # the teacher's browser: "<code>.<token>", so every tab and lesson link they open leads


def _cookie_lead() -> tuple[str, str] | None:
    try:
        raw = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser (AppTest)
        return None
    if not raw or "." not in raw or len(raw) > 128:
        return None
    code, token = raw.split(".", 1)
    code = cr.normalize_code(code)
    return (code, token) if code else None


_COOKIE_SAFE = re.compile(r"[a-z2-7]{16}\.[A-Za-z0-9_-]{16,64}")


def cookie_value(code: str, token: str) -> str:
    """``code.token`` for the teacher's cookie, or ValueError: only a class's own code (base32) and token
    (URL-safe base64), which the store has already checked, can reach the page's script."""
    value = f"{code}.{token}"
    if not _COOKIE_SAFE.fullmatch(value):
        raise ValueError("not a class code and lead token")
    return value


def _lead_cookie_script(me: dict | None) -> None:
    """Write (or, with None, delete) the teacher's cookie in their browser: a lesson link or a reload opens a
    new session, and the new session must still be the teacher's."""
    value = cookie_value(me["code"], me["token"]) if me else ""
    age = int(room().limits.ttl_s) if me else 0
    st.html("<script>document.cookie = '" + COOKIE + "=" + value + "; path=/; max-age=" + str(age)
            + "; SameSite=Strict';</script>", unsafe_allow_javascript=True)


def begin(state, here: str, pages: dict) -> None:
    """Before the page runs. ``here``: the url_path the router is about to run; ``pages``: url_path -> st.Page.
    A store that does not answer is said with the link's notices; the session keeps its class and retries."""
    try:
        _begin(state, here, pages)
    except cr.StoreUnavailable as e:
        state.problems.append(str(e))


def _begin(state, here: str, pages: dict) -> None:
    notice = st.session_state.pop("_genlab_class_notice", None)
    if notice:
        st.toast(notice, icon=":material/school:")
    if st.session_state.pop("_genlab_class_forget_cookie", False):
        _lead_cookie_script(None)
    _PAGES.update(pages)
    goto = st.session_state.pop(_GOTO, None)
    if goto is not None and goto[0] == here:
        # the teacher's "Next lesson": this run opens the lesson exactly as its link would, in this session
        _page, step, settings = goto
        forget_forced()
        state.follow({**settings, "walkthrough": "true"}, skip={"step"})
        st.session_state.pop("_genlab_step_from_link", None)
        state.raw["step"] = str(step)
    raw_code, token = state.raw.get("class"), state.raw.get("lead")
    me = session()
    cookie = _cookie_lead() if me is None or me["role"] != "lead" else None
    if cookie and (raw_code is None or cr.normalize_code(raw_code) == cookie[0]) and room().is_teacher(*cookie):
        me = st.session_state[_KEY] = {"code": cookie[0], "role": "lead", "token": cookie[1], "show_code": False,
                                       "cookie": True}
    if raw_code is not None:
        code = cr.normalize_code(raw_code)
        if code is None or not room().exists(code):
            state.problems.append("This class link is not open: the class ended, expired, or the code is mistyped.")
            _leave()
            return
        if token is not None and (me is None or me["code"] != code or me["role"] != "lead"):
            if room().is_teacher(code, token):
                me = st.session_state[_KEY] = {"code": code, "role": "lead", "token": token, "show_code": True}
            else:
                state.problems.append("This lead link's teacher token is not valid: you joined as a student.")
        if me is None or me["code"] != code:
            sid = secrets.token_hex(8)
            try:
                room().join(code, sid)
            except cr.ClassError as e:
                state.problems.append(str(e))
                _leave()
                return
            me = st.session_state[_KEY] = {"code": code, "role": "student", "sid": sid, "following": True,
                                           "seen": None}
            forget_forced()
    if "lead" in st.query_params:  # the token never stays in the address bar (a projector shows it)
        del st.query_params["lead"]
    if me is None:
        return
    if not room().exists(me["code"]):
        _leave("The class has ended.")
        return
    if st.query_params.get("class") != cr.pretty_code(me["code"]):
        st.query_params["class"] = cr.pretty_code(me["code"])  # a reload rejoins
    if me["role"] != "student" or not me.get("following"):
        return
    view = room().view(me["code"])
    if view is None:
        return
    if view.page != here:
        if view.version == me.get("seen"):  # the teacher did not move: the student opened another page
            me["following"] = False
            return
        if view.page in pages:
            me["seen"] = view.version
            # the widgets' values follow on that page's run (UrlState.follow): Streamlit refuses to set a
            # parameter bound to a widget through switch_page, so only the unbound ones travel here
            unbound = {k: v for k, v in view.query.items() if k == "hide"}
            st.switch_page(pages[view.page], query_params={**unbound, "class": cr.pretty_code(me["code"])})
        return
    me["seen"] = view.version

    def explore():  # the student moved a control themselves: from now on their settings are theirs
        me["following"] = False

    state.follow(view.query, on_leave=explore)


def publish(state, here: str | None = None) -> None:
    """The teacher's session: store the view it shows now (a no-op for everyone else, or when nothing changed)."""
    me = session("lead")
    if not me:
        return
    if here is None:
        here = me.get("page", "")
    me["page"] = here
    try:
        room().publish(me["code"], me["token"], here, state.query())
    except cr.StoreUnavailable:
        pass  # the next run publishes again
    except cr.ClassError:
        _leave("The class has ended.")


def _step(here: str) -> int | None:
    """The walkthrough step shown now (from 1), or None outside the walkthrough."""
    if not st.session_state.get("walkthrough"):
        return None
    title = str(st.session_state.get("step") or "")
    head = title.split(".", 1)[0]
    return int(head) if head.isdigit() else 1


@st.cache_resource(show_spinner=False, max_entries=64)
def _figure(name: str) -> qs.QuestionFigure:
    return qs.FIGURES[name]()


def _show_figure(q: qs.Question, revealed: bool) -> None:
    if not q.figure or q.figure not in qs.FIGURES:
        return
    import numpy as np

    try:
        fig = _figure(q.figure)
    except Exception as e:  # noqa: BLE001 - a missing checkpoint: the question still works without its picture
        st.caption(f"(The figure could not be drawn: {type(e).__name__}.)")
        return
    images = [np.repeat(np.repeat(np.clip(im, 0, 1), 6, axis=0), 6, axis=1) for im in fig.images]
    captions = fig.reveal_captions if revealed else fig.captions
    with st.container(horizontal=True, gap="small"):
        for im, cap in zip(images, captions):
            st.image(im, caption=cap, width=96, clamp=True)


def _chart(q: qs.Question, tally: dict, revealed: bool) -> None:
    from core.viz.classroom import answers_chart, chart_height

    st.altair_chart(answers_chart(tally, revealed), width="stretch", height=chart_height(tally))


@st.fragment(run_every=POLL_S)
def _student_poll() -> None:
    me = session("student")
    if not me:
        return
    r = room()
    try:
        if not r.exists(me["code"]):
            _leave("The class has ended.")
            st.rerun(scope="app")
        r.heartbeat(me["code"], me["sid"], me.get("following", False))
        view, seq = r.view(me["code"]), r.question_seq(me["code"])
    except cr.StoreUnavailable:
        return  # the next tick tries again
    if seq != me.get("qseq") or (me.get("following") and view is not None and view.version != me.get("seen")):
        st.rerun(scope="app")


def _lead_live(draw):
    """A part of the teacher's bar that redraws itself every TEACHER_POLL_S: ``draw(me)`` with the teacher's session
    (nothing for anyone else); a store that does not answer is said under it, and the next tick tries again."""
    @st.fragment(run_every=TEACHER_POLL_S)
    def live() -> None:
        me = session("lead")
        if me:
            try:
                draw(me)
            except cr.StoreUnavailable as e:
                st.caption(str(e))

    return live


@_lead_live
def _teacher_count(me: dict) -> None:
    """How many students follow now."""
    p = room().presence(me["code"])
    st.markdown(f":material/groups: **{p['following']}** following now · {p['here']} in the class")


@_lead_live
def _teacher_chart(me: dict) -> None:
    """The open question's answers as a chart, live."""
    r = room()
    asked = r.question(me["code"])
    q = qs.by_id(asked.id) if asked else None
    if q is None:
        return
    try:
        t = qs.tally(q, r.results(me["code"], me["token"], q.id))
    except cr.StoreUnavailable:
        raise
    except cr.ClassError:  # the class ended between two ticks: the next full run says so
        return
    if t["n"]:
        _chart(q, t, asked.revealed)
    st.caption(f"{t['n']} answered" + (f" · {t['n_right']} right" if asked.revealed else "")
               + ("" if t["n"] or asked.revealed else ": the chart appears with the first answer"))


def _teacher_panel(state, here: str) -> None:
    me = session()
    r = room()
    code = me["code"]
    with st.container(border=True, key="genlab_class_lead"):
        head = st.container(horizontal=True, vertical_alignment="center", gap="small")
        head.markdown(f":material/school: **You lead class `{cr.pretty_code(code)}`**")
        if head.button("Hide the join code" if me.get("show_code") else "Show the join code", icon=":material/qr_code:",
                       key="genlab_class_code_btn"):
            me["show_code"] = not me.get("show_code")
            st.rerun()
        if me.get("show_code"):
            _join_code(code)
        _teacher_count()
        _lessons_nav(state, here)
        step = _step(here)
        q = qs.for_step(here, step) if step else None
        asked = r.question(code)
        if asked is not None and (q is None or asked.id != q.id):
            other = qs.by_id(asked.id)
            row = st.container(horizontal=True, vertical_alignment="center")
            row.caption(f"Asked now: {other.prompt[:80] if other else asked.id}")
            if row.button("Close it", key="genlab_class_close_other"):
                r.close_question(code, me["token"])
                st.rerun()
        if q is not None:
            _teacher_question(q, asked)
        elif step is not None:
            st.caption("This step has no question for the class.")
        else:
            st.caption("Turn on **Walkthrough** (sidebar): each lesson step with a question gets an *Ask the class* button.")
        with st.container(horizontal=True, gap="small"):
            token = me["token"]
            st.download_button("Answers (CSV)", lambda: r.export_csv(code, token),  # made on click, not every run
                               file_name=f"class-{code[:4]}.csv", on_click="ignore",
                               mime="text/csv", icon=":material/download:", key="genlab_class_csv",
                               help="Every answer so far: question, anonymous student number, answer, right or not.")
            if st.button("End the class", icon=":material/logout:", key="genlab_class_end",
                         help="Deletes the class and all its answers now (export them first)."):
                r.end(code, me["token"])
                _leave("The class has ended; its answers are deleted.")
                st.rerun()


def _lessons_nav(state, here: str) -> None:
    """The lecture's lessons in order, one click each way: the teacher runs the whole lecture from the
    presenter view (its sidebar folded away), and the class follows."""
    from core.lessons import LESSONS

    order = [p for p in _PAGES if p]
    lessons = [lesson for lesson in LESSONS if lesson.page in order]
    if not lessons:
        return
    where = (order.index(here) if here in order else -1, _step(here) or 0)

    def pos(lesson):
        return order.index(lesson.page), lesson.step

    before = [lesson for lesson in lessons if pos(lesson) < where]
    after = [lesson for lesson in lessons if pos(lesson) > where]
    now = next((lesson for lesson in lessons if pos(lesson) == where), None)
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.markdown(f"**Lesson {lessons.index(now) + 1} of {len(lessons)}:** {now.title}" if now else
                 f"**Lessons:** {len(before)} of {len(lessons)} behind you")
    if before and row.button("Previous lesson", icon=":material/skip_previous:", key="genlab_class_prev",
                             help=before[-1].title):
        _goto(state, before[-1])
    if after and row.button("Next lesson", icon=":material/skip_next:", key="genlab_class_next",
                            help=after[0].title):
        _goto(state, after[0])


def _goto(state, lesson) -> None:
    st.session_state[_GOTO] = (lesson.page, lesson.step, dict(lesson.extra) | (
        {"hide": ",".join(lesson.hide)} if lesson.hide else {}))
    query = {"class": cr.pretty_code(session()["code"])}
    if state.present:
        query["present"] = "true"
    if lesson.hide:
        query["hide"] = ",".join(lesson.hide)
    st.switch_page(_PAGES[lesson.page], query_params=query)


def _join_code(code: str) -> None:
    import io

    import segno

    link = join_link(code)
    buf = io.BytesIO()
    segno.make(link, error="m").save(buf, kind="png", scale=6, border=2)
    a, b = st.columns([1, 2], vertical_alignment="center")
    a.image(buf.getvalue(), width=220, output_format="PNG")  # sharp edges: a JPEG blurs the modules
    b.markdown(f"### Join at\n## `{cr.pretty_code(code)}`")
    b.code(link, language=None, wrap_lines=True)
    b.caption("Students open this link (or scan the code) on their own device and follow your screen.")


def _teacher_question(q: qs.Question, asked) -> None:
    is_open = asked is not None and asked.id == q.id
    st.markdown(f"**Question for the class:** {q.prompt}")
    _show_figure(q, revealed=bool(is_open and asked.revealed))
    row = st.container(horizontal=True, gap="small")
    me = session()
    if is_open:
        _teacher_chart()
    if not is_open:
        if row.button("Ask the class", icon=":material/quiz:", type="primary", key="genlab_class_ask"):
            room().ask(me["code"], me["token"], q.id)
            st.rerun()
        return
    if not asked.revealed:
        if row.button("Reveal the answer", icon=":material/visibility:", type="primary", key="genlab_class_reveal"):
            room().reveal(me["code"], me["token"])
            st.rerun()
    else:
        st.success(f"**Right answer:** {q.right_answer()}  \n{q.explain}", icon=":material/check_circle:")
    if row.button("Close the question", key="genlab_class_close"):
        room().close_question(me["code"], me["token"])
        st.rerun()


def _student_panel() -> None:
    me = session()
    r = room()
    with st.container(border=True, key="genlab_class_student"):
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        if me.get("following"):
            row.markdown(":material/cast_for_education: **Following your teacher**")
            if row.button("Explore on my own", icon=":material/explore:", key="genlab_class_explore",
                          help="Stop following: your settings and trainings stay yours until you catch up."):
                me["following"] = False
                st.rerun()
        else:
            row.markdown(":material/explore: **Exploring on your own**")
            if row.button("Catch up", icon=":material/fast_forward:", type="primary", key="genlab_class_catch_up",
                          help="Go back to what your teacher shows now."):
                me["following"], me["seen"] = True, None
                forget_forced()
                st.rerun()
        asked = r.question(me["code"])
        me["qseq"] = r.question_seq(me["code"])
        q = qs.by_id(asked.id) if asked else None
        if q is not None:
            _student_question(q, asked)
        _student_poll()


def _student_question(q: qs.Question, asked) -> None:
    me = session()
    mine = room().my_answer(me["code"], me["sid"], q.id)
    st.markdown(f"**Question:** {q.prompt}")
    _show_figure(q, revealed=asked.revealed)
    if asked.revealed:
        verdict = "" if mine is None else (" Your answer was right." if q.is_right(mine) else
                                           f" Your answer: {q.label(mine)}.")
        st.success(f"**Right answer:** {q.right_answer()}.{verdict}  \n{q.explain}", icon=":material/check_circle:")
        return
    with st.form(key=f"genlab_class_answer_{q.id}", border=False, enter_to_submit=False):
        if q.kind == "choice":
            value = st.radio("Your answer", range(len(q.options)), format_func=lambda i: q.options[i], index=None)
        elif q.kind == "pick":
            value = st.pills("Pick every panel that applies", range(len(q.options)),
                             format_func=lambda i: q.options[i], selection_mode="multi")
        else:
            lo, hi = q.bounds
            value = st.number_input(f"Your answer{f' ({q.unit})' if q.unit else ''}", float(lo), float(hi), value=None,
                                    step=10.0 ** -q.decimals, format=f"%.{q.decimals}f")
        sent = st.form_submit_button("Send" if mine is None else "Change my answer", icon=":material/send:")
    if sent:
        try:
            got = room().answer(me["code"], me["sid"], q.id, value if value not in (None, []) else "")
            mine = got
            st.toast("Answer received.", icon=":material/done:")
        except cr.ClassError as e:
            st.warning(str(e), icon=":material/block:")
    if mine is not None:
        st.caption(f"Your answer: {q.label(mine)} (you can change it until your teacher reveals the answer).")


def panel(state, here: str, box) -> None:
    """After the page ran: the teacher publishes the view; the class bar is drawn in ``box`` (above the page)."""
    me = session()
    if not me:
        return
    try:
        _panel(state, here, box, me)
    except cr.StoreUnavailable as e:
        box.warning(str(e), icon=":material/cloud_off:")


def _panel(state, here: str, box, me: dict) -> None:
    with box:
        if me["role"] == "lead":
            if not me.get("cookie"):
                _lead_cookie_script(me)
                me["cookie"] = True
            publish(state, here)
            if session():
                _teacher_panel(state, here)
        else:
            _student_panel()


def home_controls() -> None:
    """The home page's way in: open a class (and, once open, its lead and join links)."""
    me = session()
    if me is None:
        if st.button("Open a class", icon=":material/co_present:", type="primary", key="genlab_class_open"):
            try:
                open_class()
            except cr.ClassError as e:
                st.error(str(e), icon=":material/block:")
                return
            st.rerun()
        return
    if me["role"] == "lead":
        st.markdown(f"You lead class **`{cr.pretty_code(me['code'])}`**. Its join code and the questions are in the bar "
                    "at the top of every page.")
        with st.expander("Your lead link (keep it to yourself)", icon=":material/key:"):
            st.caption("Open it on another device, or after closing this tab, to lead this class again. "
                       "Whoever has it can move the class, ask, reveal and end it.")
            st.code(lead_link(me["code"], me["token"]), language=None, wrap_lines=True)
    else:
        st.markdown(f"You are in class **`{cr.pretty_code(me['code'])}`** as a student.")
