"""Class mode in the app: a teacher and students as AppTest sessions of one process (one in-memory store)."""
import pytest
from pagetest import APP, shown, widget
from streamlit.testing.v1 import AppTest

from core import classroom as cr
from core import questions as qs

KEY = "_genlab_class"


def session(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def teacher() -> AppTest:
    t = session()
    t.button(key="genlab_class_open").click().run()
    assert t.session_state[KEY]["role"] == "lead"
    return t


def student(t: AppTest, code: str | None = None) -> AppTest:
    s = session({"class": code or cr.pretty_code(t.session_state[KEY]["code"])})
    assert s.session_state[KEY]["role"] == "student"
    return s


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "success", "warning", "info")
                    for e in getattr(at, kind))


def go(at: AppTest, page: str, view: str | None = None, step: int | None = None) -> AppTest:
    """Open ``page`` in this session, then pick ``view`` (explore mode) or walkthrough ``step`` (from 1)."""
    at.switch_page(f"pages/{page}.py")
    at.run()
    if view is not None:
        at.button_group(key="view").set_value(view).run()
    if step is not None:
        if not at.sidebar.toggle(key="walkthrough").value:
            at.sidebar.toggle(key="walkthrough").set_value(True).run()
        sb = widget(at, "step")
        sb.set_value(sb.options[step - 1]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def send(at: AppTest) -> None:
    """Press the answer form's Send button."""
    next(b for b in at.button if "FormSubmitter" in b.id).click().run()


def step_of(at: AppTest) -> str:
    return shown(widget(at, "step"))


def test_students_follow_the_teachers_page_view_settings_and_step():
    t = teacher()
    s = student(t)
    assert "Following your teacher" in texts(s)
    go(t, "gan", view="Training curves")
    widget(t, "lrd").set_value(0.003).run()
    s.run()  # the student's next run (in a browser: within POLL_S of the teacher's change)
    assert not s.exception, [e.value for e in s.exception]
    assert s.button_group(key="view").value == "Training curves"
    assert widget(s, "lrd").value == 0.003
    go(t, "gan", step=3)
    s.run()
    assert s.sidebar.toggle(key="walkthrough").value is True
    assert step_of(s) == step_of(t) and step_of(t).startswith("3.")
    assert not s.error and not s.exception
    # the teacher sees the student following (their poll reported it)
    code = t.session_state[KEY]["code"]
    from core import class_ui

    assert class_ui.room().presence(code) == {"here": 1, "following": 1}  # the student's poll reported in
    assert "**1** following now" in texts(t)


def test_a_student_who_explores_keeps_their_own_settings_and_catches_up():
    t = go(teacher(), "gan", view="Training curves")
    s = student(t)
    assert s.button_group(key="view").value == "Training curves"
    s.button(key="genlab_class_explore").click().run()
    assert "Exploring on your own" in texts(s)
    widget(s, "lrd").set_value(0.0001).run()
    widget(t, "lrd").set_value(0.003).run()
    t.button_group(key="view").set_value("The game").run()
    s.run()
    assert widget(s, "lrd").value == 0.0001 and s.button_group(key="view").value == "Training curves"
    s.button(key="genlab_class_catch_up").click().run()
    assert "Following your teacher" in texts(s)
    assert s.button_group(key="view").value == "The game"
    s.button_group(key="view").set_value("Training curves").run()  # moving a control: exploring again
    assert widget(s, "lrd").value == 0.003
    assert s.session_state[KEY]["following"] is False


def test_a_student_who_opens_another_page_explores():
    t = teacher()
    s = student(t)
    t.switch_page("pages/gan.py")
    t.run()
    s.run()
    s.switch_page("pages/vae.py")
    s.run()
    assert s.session_state[KEY]["following"] is False and "Exploring on your own" in texts(s)


def _question_page():
    q = next(q for q in qs.QUESTIONS if q.kind == "choice" and not q.figure)
    return q


def test_three_students_answer_and_the_teacher_sees_the_chart_then_reveals():
    q = _question_page()
    t = teacher()
    kids = [student(t) for _ in range(3)]
    go(t, q.page, step=q.step)
    assert not t.exception
    t.button(key="genlab_class_ask").click().run()
    wrong = (int(q.answer) + 1) % len(q.options)
    for kid, pick in zip(kids, [q.answer, q.answer, wrong]):
        kid.run()
        assert q.prompt[:30] in texts(kid)
        assert not [b for b in kid.button if b.key == "genlab_class_ask"], "a student sees the teacher's controls"
        kid.radio[0].set_value(pick)
        send(kid)
        assert "Your answer:" in texts(kid), texts(kid)
    t.run()
    charts = t.get("vega_lite_chart")
    assert charts, "no answers chart on the teacher's screen"
    assert "3 answered" in texts(t)
    code, token = t.session_state[KEY]["code"], t.session_state[KEY]["token"]
    from core import class_ui

    tally = qs.tally(q, class_ui.room().results(code, token, q.id))
    assert tally["counts"][int(q.answer)] == 2 and tally["counts"][wrong] == 1
    t.button(key="genlab_class_reveal").click().run()
    assert "Right answer" in texts(t) and "2 right" in texts(t)
    kids[0].run()
    assert "Right answer" in texts(kids[0]) and "Your answer was right" in texts(kids[0])
    csv_text = class_ui.room().export_csv(code, token)
    assert csv_text.count("\n") == 4 and "student 3" in csv_text


def test_forged_tokens_guessed_codes_and_ended_classes():
    t = teacher()
    code = t.session_state[KEY]["code"]
    forged = session({"class": cr.pretty_code(code), "lead": "not-the-token"})
    assert forged.session_state[KEY]["role"] == "student"
    assert "teacher token is not valid" in " ".join(i.value for i in forged.info)
    assert not [b for b in forged.button if b.key in ("genlab_class_ask", "genlab_class_end", "genlab_class_reveal")]
    guessed = session({"class": cr.new_code()})
    assert KEY not in guessed.session_state and "not open" in " ".join(i.value for i in guessed.info)
    junk = session({"class": "<script>alert(1)</script>"})
    assert KEY not in junk.session_state and not junk.exception
    real = session({"class": cr.pretty_code(code), "lead": t.session_state[KEY]["token"]})  # the lead link
    assert real.session_state[KEY]["role"] == "lead"
    assert "lead" not in real.query_params, "the token stays in the address bar"
    t.button(key="genlab_class_end").click().run()
    assert KEY not in t.session_state
    forged.run()
    assert KEY not in forged.session_state


@pytest.mark.parametrize("kind", ["pick", "number"])
def test_every_kind_of_answer_widget_sends(kind):
    q = next((q for q in qs.QUESTIONS if q.kind == kind), None)
    if q is None:
        pytest.skip(f"no {kind} question")
    t = teacher()
    s = student(t)
    go(t, q.page, step=q.step)
    t.button(key="genlab_class_ask").click().run()
    s.run()
    if kind == "number":
        s.number_input[0].set_value(float(q.answer))
    else:
        next(p for p in s.get("button_group") if p.label == "Pick every panel that applies").set_value(list(q.answer))
    send(s)
    assert not s.exception
    code, token = t.session_state[KEY]["code"], t.session_state[KEY]["token"]
    from core import class_ui

    got = class_ui.room().results(code, token, q.id)
    assert list(got.values()) == [q.parse(q.answer if kind == "number" else list(q.answer))]


def test_the_teacher_runs_the_lecture_lesson_by_lesson_and_the_class_follows():
    from core.lessons import LESSONS

    t = teacher()
    s = student(t)
    assert "Lesson" in texts(t) and not [b for b in t.button if b.key == "genlab_class_prev"]
    t.button(key="genlab_class_next").click().run()  # from home: the first lesson
    first = LESSONS[0]
    assert not t.exception, [e.value for e in t.exception]
    assert t.sidebar.toggle(key="walkthrough").value is True
    assert step_of(t).startswith(f"{first.step}.") and f"Lesson 1 of {len(LESSONS)}:" in texts(t)
    s.run()
    assert step_of(s) == step_of(t) and s.sidebar.toggle(key="walkthrough").value is True
    # the mode-collapse lesson carries settings (D three steps ahead, a higher D rate, its checkpoint's iterations)
    collapse = next(lesson for lesson in LESSONS if dict(lesson.extra).get("k") == "3")
    before = LESSONS[LESSONS.index(collapse) - 1]
    assert before.page == collapse.page
    go(t, before.page, step=before.step)
    t.button(key="genlab_class_next").click().run()
    assert not t.exception, [e.value for e in t.exception]
    assert step_of(t).startswith(f"{collapse.step}.")
    extra = dict(collapse.extra)
    assert widget(t, "k").value == int(extra["k"]) and shown(widget(t, "lrd")) == extra["lrd"]
    s.run()
    assert widget(s, "k").value == int(extra["k"]) and shown(widget(s, "lrd")) == extra["lrd"]
    assert step_of(s) == step_of(t)
    t.button(key="genlab_class_prev").click().run()
    assert step_of(t).startswith(f"{before.step}.") and widget(t, "k").value == 1


def test_a_teachers_change_inside_a_fragment_moves_the_class():
    t = go(teacher(), "diffusion", view="2-D model")
    s = student(t)
    assert widget(s, "k2").value == 50
    widget(t, "k2").set_value(200).run()  # in an isolated section: only its fragment reruns
    assert not t.exception
    s.run()
    assert widget(s, "k2").value == 200 and s.button_group(key="view").value == "2-D model"


def test_a_store_out_of_reach_is_a_message_and_the_class_carries_on(redis_server, monkeypatch):
    import signal

    from core import class_ui

    url, proc = redis_server
    monkeypatch.setenv("GENLAB_REDIS_URL", url)
    class_ui.room.clear()  # this process's store is now the Redis server (as on a replica)
    try:
        t = go(teacher(), "gan", step=2)
        s = student(t)
        assert step_of(s) == step_of(t)
        proc.send_signal(signal.SIGSTOP)
        try:
            for at in (t, s):
                at.run()
                assert not at.exception, [e.value for e in at.exception]
                said = " ".join(str(e.value) for e in list(at.warning) + list(at.info))
                assert "out of reach" in said, said
            assert s.session_state[KEY]["role"] == "student" and t.session_state[KEY]["role"] == "lead"
        finally:
            proc.send_signal(signal.SIGCONT)
        go(t, "gan", step=4)
        s.run()
        assert step_of(s) == step_of(t) and step_of(t).startswith("4.")
    finally:
        class_ui.room.clear()
