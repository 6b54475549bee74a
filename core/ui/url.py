"""URL state: every widget of a view bound to the link, malformed or unknown parameters told, class mode's
following (the teacher's values forced onto a student's widgets), the page's style and seed."""
from __future__ import annotations

import math
import threading
from urllib.parse import urlencode

import streamlit as st

from core import text as _text
from core.lessons import Step, View  # noqa: F401  (pages write ui.Step / ui.View)

_STATE_KEY = "_genlab_url_state"
_FRAGMENT_DEPTH = threading.local()  # per script thread: how many ui.fragment draws are running


def _in_fragment() -> bool:
    return getattr(_FRAGMENT_DEPTH, "n", 0) > 0


_LAST_KEY = "_genlab_last_values"
_OWNER_KEY = "_genlab_key_owner"  # widget key -> the page whose widget last used it
_FORCED_KEY = "_genlab_forced_values"  # class mode: widget key -> the teacher's value it was last given


def _page_id() -> str:
    """The page this run shows (its script hash; "" outside a script run)."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        ctx = get_script_run_ctx()
        return str(ctx.page_script_hash) if ctx is not None else ""
    except Exception:  # noqa: BLE001
        return ""


def require_router() -> None:
    """First line of every page: make sure the page runs inside the router (``streamlit_app.py``).

    Streamlit keeps a process-wide flag for the old ``pages/``-folder mode that stays on until
    the entry script has called ``st.navigation`` once. So the very first request to a fresh
    server, if it is a deep link such as ``/bayes``, runs the page script on its own: no
    sidebar, no URL state, a different menu. Here the page notices, clears the flag exactly as
    ``st.navigation`` itself does, and reruns, so the router runs and renders the page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
#: Keys owned by the router, valid on every page: the walkthrough and its step, and the lesson
#: parameters ``hide`` (comma-separated widget keys to leave out of the page) and ``present``
#: (presenter view for a projector).
GLOBAL_KEYS = ("walkthrough", "step", "hide", "present", "class", "lead")  # class, lead: class mode (core/class_ui.py)
PSEUDO_CONTROLS = {"code"}  # hideable parts that are not widgets: the "Show the code" expanders


#: The one rule for text a visitor or a link supplies (see core/text.py): ``escape_md`` shows it as typed,
#: ``quote`` as a short inline code span. Both are re-exported here for the pages.
escape_md, quote = _text.escape_md, _text.quote
_quote = quote  # link notices name the offending parameter as a code span


def _drop_seeded_value(key: str) -> None:
    """Forget the URL value of the bound widget ``key`` before the widget reads it.

    Streamlit 1.67 turns a bound number's URL value into an int or float and catches only
    ValueError, so ``?seed=inf`` or a 400-digit number raises OverflowError inside ``st.slider``.
    There is no public way to drop a value Streamlit seeds from the URL, hence the private
    attribute, guarded: if a later Streamlit changes it, this does nothing.
    """
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        with get_script_run_ctx().session_state.query_params() as qp:
            qp._initial_query_params.pop(key, None)
            qp.remove_param(key)
    except Exception:  # noqa: BLE001 - best effort; the range check above still reports the value
        pass


def _fmt_number(v) -> str:
    # Streamlit's own rule for numbers in the URL (5.0 -> "5", 5.5 -> "5.5")
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return str(int(v))
    return str(v)


class Following:
    """Class mode: a following student's run, whose widgets take the teacher's values (:meth:`UrlState.follow`)
    until the student moves one of them."""

    def __init__(self, query: dict[str, str], on_leave=None, skip=()):
        self.query, self.on_leave, self.skip, self.active = dict(query), on_leave, set(skip), True

    def force(self, key: str, default, parse) -> bool:
        """Before the widget ``key`` is made, in a following student's run: set it to the teacher's value.
        ``parse`` turns the URL text into the widget's value (ValueError when it cannot). True when forced."""
        if not self.active or key in self.skip:
            return False
        last = st.session_state.setdefault(_FORCED_KEY, {})
        if key in last and key in st.session_state and st.session_state[key] != last[key]:
            self.active = False  # the student moved it: their own from here on
            if self.on_leave is not None:
                self.on_leave()
            return False
        value = default
        if key in self.query:
            try:
                value = parse(self.query[key])
            except (ValueError, TypeError):
                return False
        _drop_seeded_value(key)  # the student's own link value must not seed the widget over the teacher's
        st.session_state[key] = value
        last[key] = value
        return True


def _claim(key: str, fits) -> None:
    """Before the widget ``key`` is made: forget a value session state holds for it that is not this
    widget's, i.e. one left by another page's widget of the same key, or one ``fits(value)`` rejects
    (kept by ``persist_state`` while its view was hidden, from when its options were others).

    Pages reuse short keys (``noise`` is the GAN's noise distribution and the VAE's noise level), and a
    widget's value can still be in session state when the next page opened from the sidebar creates
    its own widget of that key: a slider fed the GAN's "gaussian" raised ValueError."""
    owners = st.session_state.setdefault(_OWNER_KEY, {})
    page = _page_id()
    other_page = key not in GLOBAL_KEYS and owners.get(key, page) != page  # router widgets: every page's
    if key in st.session_state and (other_page or not fits(st.session_state[key])):
        del st.session_state[key]
    owners[key] = page


def _follow_default(key: str, default, label) -> None:
    """The one rule for a widget whose default depends on another setting (the flow's *Base p0* and
    *Coupling layers K* are the shipped model's for the chosen data set; the layer slider's default is
    the model's depth): before the widget ``key`` is made, if its default has changed since the last run
    and the value still equals the old default (the user never set it), the value follows the new one.

    The value is set through session state, so the browser shows it too: a default recomputed in Python
    alone left the widget showing the old value (the ring of 8 showed "standard normal" while the page
    used its "mixture of 8"), and the next click sent the old one back. A value the user did set is kept;
    the link writes any value that differs from the default for the current other settings
    (:meth:`UrlState._record`), so a link always reopens the same model. ``label`` gives a value as the URL
    writes it."""
    last = st.session_state.get(_LAST_KEY, {}).get((_page_id(), key))
    if last is None or key not in st.session_state:
        return
    try:
        new, now = label(default), label(st.session_state[key])
    except Exception:  # noqa: BLE001 - a kept value this widget cannot show: _claim and the widget handle it
        return
    if new != last[1] and now == last[1]:
        st.session_state[key] = default


class UrlWidgets:
    """Streamlit's widgets bound to the URL (``bind="query-params"``), each through the same rules first: claim the
    key, follow a changed default, take the teacher's value in class mode, check the link's value. A mixin of
    :class:`UrlState`, whose bookkeeping (``_force``, ``_box``, ``_check``, ``_record``) it uses."""

    def _pick(self, widget, label: str, options, key: str, index: int, format_func, **kw):
        # selectbox and radio: the URL holds the formatted label of the chosen option
        options = list(options)
        _claim(key, lambda v: v in options)
        labels = [format_func(o) for o in options]
        if not self._force(key, options[index], lambda s: options[labels.index(s)]):
            _follow_default(key, options[index], format_func)
        self._check(key, self.raw.get(key) in labels, "one of " + ", ".join(f"'{x}'" for x in labels))
        value = widget(label, options, index=index, key=key, format_func=format_func, bind="query-params",
                       persist_state="page", **kw)
        self._record(key, format_func(value), labels[index])
        return value

    def segmented(self, label: str, options: list[str], key: str, index: int = 0, container=st, **kw) -> str:
        """A segmented control of string options (exactly one chosen), bound to the URL."""
        options = list(options)
        _claim(key, lambda v: v in options)
        if not self._force(key, options[index], lambda s: options[options.index(s)]):
            _follow_default(key, options[index], str)
        self._check(key, self.raw.get(key) in options, "one of " + ", ".join(f"'{x}'" for x in options))
        value = self._box(container, key).segmented_control(label, options, default=options[index], required=True,
                                                            key=key, bind="query-params", persist_state="page", **kw)
        value = value if value in options else options[index]
        self._record(key, value, options[index])
        return value

    def selectbox(self, label: str, options, key: str, index: int = 0, format_func=str, container=st, **kw):
        return self._pick(self._box(container, key).selectbox, label, options, key, index, format_func, **kw)

    def radio(self, label: str, options, key: str, index: int = 0, format_func=str, container=st, **kw):
        return self._pick(self._box(container, key).radio, label, options, key, index, format_func, **kw)

    def _number_ok(self, key, lo, hi, integer):
        try:
            v = float(self.raw[key])
        except (KeyError, ValueError, TypeError):
            return False
        return math.isfinite(v) and lo <= v <= hi and (not integer or v == int(v))

    def _ranged(self, widget, label: str, min_value, max_value, value, key: str, step, **kw):
        # slider and number_input: the URL holds the number, checked against the range
        _claim(key, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        integer = all(isinstance(v, int) for v in (min_value, max_value, value))

        def parse(s):
            x = float(s)
            if not (math.isfinite(x) and min_value <= x <= max_value):
                raise ValueError(s)
            return int(x) if integer else type(value)(x)

        if not self._force(key, value, parse):
            _follow_default(key, value, _fmt_number)
        ok = self._number_ok(key, min_value, max_value, integer)
        self._check(key, ok, f"a{'n integer' if integer else ' number'} from {min_value} to {max_value}")
        if key in self.raw and not ok:
            try:
                huge = not abs(float(self.raw[key])) < 1e15
            except (TypeError, ValueError):
                huge = False
            if huge:  # inf, nan or beyond int range: Streamlit itself would crash on it
                _drop_seeded_value(key)
        kept = st.session_state.get(key)
        if kept is not None and not min_value <= kept <= max_value:
            # a value kept (persist_state) while the widget was hidden, from when its range was another one
            st.session_state[key] = type(value)(min(max(kept, min_value), max_value))
        out = widget(label, min_value, max_value, value, step=step, key=key, bind="query-params",
                     persist_state="page", **kw)
        self._record(key, _fmt_number(out), _fmt_number(value))
        return out

    def slider(self, label: str, min_value, max_value, value, key: str, step=None, container=st, **kw):
        return self._ranged(self._box(container, key).slider, label, min_value, max_value, value, key, step, **kw)

    def number(self, label: str, min_value, max_value, value, key: str, step=None, container=st, **kw):
        return self._ranged(self._box(container, key).number_input, label, min_value, max_value, value, key, step, **kw)

    def toggle(self, label: str, value: bool, key: str, container=st, **kw):
        _claim(key, lambda v: isinstance(v, bool))

        def parse(s):
            if s not in ("true", "false"):
                raise ValueError(s)
            return s == "true"

        if not self._force(key, value, parse):
            _follow_default(key, value, lambda v: str(v).lower())
        self._check(key, self.raw.get(key) in ("true", "false"), "true or false")
        out = self._box(container, key).toggle(label, value=value, key=key, bind="query-params",
                                               persist_state="page", **kw)
        self._record(key, str(out).lower(), str(value).lower())
        return out

    def text(self, label: str, value: str, key: str, max_chars: int = 2000, container=st, **kw):
        """A text input bound to the URL (any text is valid; one longer than ``max_chars`` gets the default)."""
        _claim(key, lambda v: isinstance(v, str))

        def parse(s):
            if len(s) > max_chars:
                raise ValueError(s)
            return s

        if not self._force(key, value, parse):
            _follow_default(key, value, str)
        self._check(key, len(self.raw.get(key, "")) <= max_chars, f"at most {max_chars} characters")
        if key in self.raw and len(self.raw[key]) > max_chars:
            st.session_state[key] = value
        out = self._box(container, key).text_input(label, value=value, key=key, max_chars=max_chars,
                                                   bind="query-params", persist_state="page", **kw)
        out = "" if out is None else str(out)
        self._record(key, out, value)
        return out


class UrlState(UrlWidgets):
    """The widgets of one script run that live in the URL, and what the URL held when it started."""

    def __init__(self, raw: dict[str, str]):
        self.raw = dict(raw)                 # query params as the run found them
        self.problems: list[str] = []        # human messages for malformed values
        self.values: dict[str, tuple[str, str]] = {}  # key -> (url value now, url value of default)
        # lesson links: controls a teacher chose to hide (their value still comes from the link)
        self.hidden = {k.strip() for k in self.raw.get("hide", "")[:2000].split(",") if k.strip()}
        self.present = self.raw.get("present", "").lower() in ("true", "1", "yes")
        # keys of widgets that live in a view of the page not drawn this run (see Walkthrough views):
        # valid, kept in the link, checked when their view is shown
        self.deferred: set[str] = set()
        # class mode: the teacher's view a following student's widgets take (see follow)
        self.following: Following | None = None

    def follow(self, query: dict[str, str], on_leave=None, skip=()) -> None:
        """Class mode: every widget of this run takes its value from ``query`` (the teacher's view; a key it
        lacks takes the widget's default; keys in ``skip`` are left alone), and the teacher's hidden controls are
        hidden here too. A widget the student moved since the last run keeps the student's value and ends
        following: ``on_leave()`` is called and the rest of the run is the student's own."""
        self.following = Following(query, on_leave, skip)
        # what the page reads from the link itself (a GAN's training so far, ``trained=true``) is the teacher's too:
        # this run reads as if opened with the teacher's link (the class code and the presenter flag stay ours)
        self.raw = {**{k: v for k, v in self.raw.items() if k in ("class", "present")},
                    **{k: v for k, v in query.items() if k != "present"}}
        self.hidden = {k.strip() for k in str(query.get("hide", ""))[:2000].split(",") if k.strip()}

    def _force(self, key: str, default, parse) -> bool:
        """Before the widget ``key`` is made: in a following student's run, set it to the teacher's value."""
        return self.following is not None and self.following.force(key, default, parse)

    def _box(self, container, key: str):
        """Where the widget ``key`` goes: its container, or a hidden box inside it for a lesson link
        that hides it (the widget still exists, bound to the URL, so its value is the link's)."""
        if key in self.hidden:
            return container.container(key=f"genlab_hidden_{key}")
        return container

    # -- bookkeeping
    def _check(self, key: str, ok: bool, expected: str):
        if key in self.raw and not ok:
            self.problems.append(f"{_quote(f'{key}={self.raw[key]}')} is not valid ({expected}); the default was used.")

    def _record(self, key: str, now: str, default: str):
        self.values[key] = (now, default)
        # remembered for the session (per page), so the link keeps a setting whose view is not shown now
        st.session_state.setdefault(_LAST_KEY, {})[(_page_id(), key)] = (now, default)

    # -- after the page ran
    def unknown_keys(self) -> list[str]:
        return [k for k in self.raw if k not in self.values and k not in GLOBAL_KEYS and k not in self.deferred]

    def query(self) -> dict[str, str]:
        """The query parameters that reproduce this view (values equal to the default left out),
        with a lesson link's ``hide`` and ``present`` kept, so the view is handed on as it was given."""
        q = {k: now for k, (now, default) in self.values.items() if now != default}
        last = st.session_state.get(_LAST_KEY, {})
        page = _page_id()
        for k in sorted(self.deferred - set(self.values)):
            if k in self.raw:  # from the link this run started with (unless it is the widget's default)
                if (page, k) not in last or self.raw[k] != last[(page, k)][1]:
                    q[k] = self.raw[k]
            elif (page, k) in last and last[(page, k)][0] != last[(page, k)][1]:  # set earlier in this session
                q[k] = last[(page, k)][0]
        if self.hidden:
            q["hide"] = ",".join(sorted(self.hidden))
        if self.present:
            q["present"] = "true"
        return q

    def link(self, base: str | None) -> str:
        q = self.query()
        base = base or ""
        return base + ("?" + urlencode(q) if q else "")


def forget_forced() -> None:
    """Class mode: a student starts following afresh (joined, or caught up): no widget counts as moved by them."""
    st.session_state.pop(_FORCED_KEY, None)


def begin_run() -> UrlState:
    """Start a script run's URL state (called once per run by the router, before the page), in a script
    thread that follows the server's one thread policy (``core.runtime.server_threads``)."""
    from core.runtime import server_threads

    server_threads()
    state = UrlState(st.query_params.to_dict())
    st.session_state[_STATE_KEY] = state
    _FRAGMENT_DEPTH.n = 0  # a full run starts outside every fragment, whatever an interrupted run left
    return state


def url() -> UrlState:
    """This run's URL state; pages declare their view-shaping widgets through it."""
    state = st.session_state.get(_STATE_KEY)
    if state is None:  # a page run on its own, without the router
        state = begin_run()
    return state


def page_style(state: UrlState) -> None:
    """CSS for a lesson link's hidden controls and for the presenter view (static text, never user input)."""
    css = []
    if state.hidden - PSEUDO_CONTROLS:  # only widgets need the CSS (``code`` is left out, not hidden)
        css.append('[class*="st-key-genlab_hidden_"] {display: none !important;}')
    if state.present:
        css.append("html {font-size: 21px;}"
                   '[data-testid="stMainBlockContainer"] {max-width: 100%; padding-left: 2rem; padding-right: 2rem;}'
                   '[data-testid="stExpander"] {display: none;}')
    if css:
        st.html("<style>" + "".join(css) + "</style>")


def show_url_notices(state: UrlState, box) -> None:
    """Tell the user about malformed or unknown URL parameters (and drop the unknown ones)."""
    unknown = state.unknown_keys()
    if unknown:
        for k in unknown:
            if k in st.query_params:
                try:
                    del st.query_params[k]
                except Exception:  # a bound key cannot be deleted this way; Streamlit drops it itself
                    pass
        state.problems.append("Ignored unknown link parameters: " + ", ".join(_quote(k) for k in unknown[:10])
                              + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "") + ".")
    unused = sorted(state.hidden - set(state.values) - state.deferred - PSEUDO_CONTROLS)
    if unused:
        state.problems.append("`hide` names controls this page does not have: " + ", ".join(_quote(k) for k in unused[:10])
                              + (f" and {len(unused) - 10} more" if len(unused) > 10 else "") + ".")
    if state.problems:
        box.info("This link had settings GenLab could not use, so defaults are shown instead.  \n"
                 + "  \n".join(state.problems), icon=":material/link_off:")


def seed_input(label: str = "Seed", default: int = 0, container=st) -> int:
    """The page's seed: every random draw on the page comes from it, and the sidebar shows it."""
    return url().number(label, 0, 2**31 - 1, default, key="seed", container=container,
                        help="Same seed, same data, same model, same picture.")
