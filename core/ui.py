"""The only Streamlit-aware part of core: URL state, walkthroughs, progress, cached loaders.

Pages stay thin: they read widgets through :func:`url` (so every view lives in the URL),
call core functions through Streamlit's caches, and draw. This module never trains or
plots anything itself.

URL state. Widgets are Streamlit's own, bound to the URL with ``bind="query-params"``: a
copied link reopens the same view, and a value equal to the default is left out of the URL.
:class:`UrlState` adds what Streamlit does not: it notices malformed or unknown parameters
(Streamlit silently drops them) and tells the user, it builds the shareable link, and it keeps
a widget whose default depends on another setting (the flow's base density by data set) in step
with that setting (see :meth:`UrlState._follow`).
"""
from __future__ import annotations

import inspect
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


class UrlState:
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
        self.forced: dict[str, str] | None = None
        self._on_leave = None
        self._skip: set[str] = set()

    def follow(self, query: dict[str, str], on_leave=None, skip=()) -> None:
        """Class mode: every widget of this run takes its value from ``query`` (the teacher's view; a key it
        lacks takes the widget's default; keys in ``skip`` are left alone), and the teacher's hidden controls are
        hidden here too. A widget the student moved since the last run keeps the student's value and ends
        following: ``on_leave()`` is called and the rest of the run is the student's own."""
        self.forced = dict(query)
        self._on_leave = on_leave
        self._skip = set(skip)
        # what the page reads from the link itself (a GAN's training so far, ``trained=true``) is the teacher's too:
        # this run reads as if opened with the teacher's link (the class code and the presenter flag stay ours)
        self.raw = {**{k: v for k, v in self.raw.items() if k in ("class", "present")},
                    **{k: v for k, v in query.items() if k != "present"}}
        self.hidden = {k.strip() for k in str(query.get("hide", ""))[:2000].split(",") if k.strip()}

    def _force(self, key: str, default, parse) -> bool:
        """Before the widget ``key`` is made, in a following student's run: set it to the teacher's value.
        ``parse`` turns the URL text into the widget's value (ValueError when it cannot). True when forced."""
        if self.forced is None or key in self._skip:
            return False
        last = st.session_state.setdefault(_FORCED_KEY, {})
        if key in last and key in st.session_state and st.session_state[key] != last[key]:
            self.forced = None  # the student moved it: their own from here on
            if self._on_leave is not None:
                self._on_leave()
            return False
        value = default
        if key in self.forced:
            try:
                value = parse(self.forced[key])
            except (ValueError, TypeError):
                return False
        _drop_seeded_value(key)  # the student's own link value must not seed the widget over the teacher's
        st.session_state[key] = value
        last[key] = value
        return True

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

    def _claim(self, key: str, fits) -> None:
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

    def _follow(self, key: str, default, label) -> None:
        """The one rule for a widget whose default depends on another setting (the flow's *Base p0* and
        *Coupling layers K* are the shipped model's for the chosen data set; the layer slider's default is
        the model's depth): before the widget ``key`` is made, if its default has changed since the last run
        and the value still equals the old default (the user never set it), the value follows the new one.

        The value is set through session state, so the browser shows it too: a default recomputed in Python
        alone left the widget showing the old value (the ring of 8 showed "standard normal" while the page
        used its "mixture of 8"), and the next click sent the old one back. A value the user did set is kept;
        the link writes any value that differs from the default for the current other settings
        (:meth:`_record`), so a link always reopens the same model. ``label`` gives a value as the URL
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

    def _record(self, key: str, now: str, default: str):
        self.values[key] = (now, default)
        # remembered for the session (per page), so the link keeps a setting whose view is not shown now
        st.session_state.setdefault(_LAST_KEY, {})[(_page_id(), key)] = (now, default)

    # -- widgets (Streamlit's, bound to the URL)
    def _pick(self, widget, label: str, options, key: str, index: int, format_func, **kw):
        # selectbox and radio: the URL holds the formatted label of the chosen option
        options = list(options)
        self._claim(key, lambda v: v in options)
        labels = [format_func(o) for o in options]
        if not self._force(key, options[index], lambda s: options[labels.index(s)]):
            self._follow(key, options[index], format_func)
        self._check(key, self.raw.get(key) in labels, "one of " + ", ".join(f"'{x}'" for x in labels))
        value = widget(label, options, index=index, key=key, format_func=format_func, bind="query-params",
                       persist_state="page", **kw)
        self._record(key, format_func(value), labels[index])
        return value

    def segmented(self, label: str, options: list[str], key: str, index: int = 0, container=st, **kw) -> str:
        """A segmented control of string options (exactly one chosen), bound to the URL."""
        options = list(options)
        self._claim(key, lambda v: v in options)
        if not self._force(key, options[index], lambda s: options[options.index(s)]):
            self._follow(key, options[index], str)
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
        self._claim(key, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        integer = all(isinstance(v, int) for v in (min_value, max_value, value))

        def parse(s):
            x = float(s)
            if not (math.isfinite(x) and min_value <= x <= max_value):
                raise ValueError(s)
            return int(x) if integer else type(value)(x)

        if not self._force(key, value, parse):
            self._follow(key, value, _fmt_number)
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
        self._claim(key, lambda v: isinstance(v, bool))

        def parse(s):
            if s not in ("true", "false"):
                raise ValueError(s)
            return s == "true"

        if not self._force(key, value, parse):
            self._follow(key, value, lambda v: str(v).lower())
        self._check(key, self.raw.get(key) in ("true", "false"), "true or false")
        out = self._box(container, key).toggle(label, value=value, key=key, bind="query-params",
                                               persist_state="page", **kw)
        self._record(key, str(out).lower(), str(value).lower())
        return out

    def text(self, label: str, value: str, key: str, max_chars: int = 2000, container=st, **kw):
        """A text input bound to the URL (any text is valid; one longer than ``max_chars`` gets the default)."""
        self._claim(key, lambda v: isinstance(v, str))

        def parse(s):
            if len(s) > max_chars:
                raise ValueError(s)
            return s

        if not self._force(key, value, parse):
            self._follow(key, value, str)
        self._check(key, len(self.raw.get(key, "")) <= max_chars, f"at most {max_chars} characters")
        if key in self.raw and len(self.raw[key]) > max_chars:
            st.session_state[key] = value
        out = self._box(container, key).text_input(label, value=value, key=key, max_chars=max_chars,
                                                   bind="query-params", persist_state="page", **kw)
        out = "" if out is None else str(out)
        self._record(key, out, value)
        return out

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


class BoundedStore(dict):
    """A dict that forgets its oldest entries beyond ``max_entries``: for the server-wide stores of
    live-trained models and uploaded point sets (``st.cache_resource`` returns one per process), so a
    class training many configurations cannot grow the server's memory without bound."""

    def __init__(self, max_entries: int = 32):
        super().__init__()
        self.max_entries = max(1, int(max_entries))

    def __setitem__(self, key, value):
        if key in self:
            super().pop(key)
        super().__setitem__(key, value)
        while len(self) > self.max_entries:
            super().pop(next(iter(self)))


# ---- walkthrough

#: The layout rules of every page (static CSS, never user input), sent once per run by :class:`Walkthrough`:
#: every page's figures, metrics and lecture steps fit the width they get, from a 1400 px screen with the sidebar
#: open down to a phone (390 px), instead of each figure being tuned for one width.
_LAYOUT_CSS = """
.st-key-genlab_walkthrough {container-type: inline-size;}
@container (max-width: 860px) {
  .st-key-genlab_walkthrough > div > [data-testid="stHorizontalBlock"],
  .st-key-genlab_walkthrough > [data-testid="stHorizontalBlock"] {flex-wrap: wrap;}
  .st-key-genlab_walkthrough > div > [data-testid="stHorizontalBlock"] > [data-testid="stColumn"],
  .st-key-genlab_walkthrough > [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]
    {flex: 1 1 100% !important; width: 100% !important; min-width: 100% !important;}
  .st-key-genlab_walkthrough > div > [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]:last-child,
  .st-key-genlab_walkthrough > [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]:last-child {order: -1;}
}
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] :is([data-testid="stPlotlyChart"],
  [data-testid="stVegaLiteChart"], [data-testid="stMetric"], [data-testid="stMarkdownContainer"] table))
  {flex-wrap: wrap;}
[data-testid="stColumn"]:has([data-testid="stMetric"]) {min-width: min(7.5rem, 100%);}
[data-testid="stColumn"]:has([data-testid="stMarkdownContainer"] table) {min-width: min(18rem, 100%);}
[data-testid="stMarkdownContainer"] table {display: block; max-width: 100%; overflow-x: auto;}
[data-testid="stColumn"]:has(:is([data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"]))
  {min-width: min(15.5rem, 100%);}
.stMarkdownEllipsis, .stMarkdownEllipsis p
  {white-space: normal !important; overflow: visible !important; text-overflow: clip !important;}
[data-testid^="stBaseButton"] :is(.stMarkdownEllipsis, .stMarkdownEllipsis p) {white-space: nowrap !important;}
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] :is([data-testid="stButton"],
  [data-testid="stNumberInput"])) {flex-wrap: wrap;}
[data-testid="stColumn"]:has(:is([data-testid="stButton"], [data-testid="stNumberInput"])) {min-width: min(7rem, 100%);}
@media (max-width: 640px) {
  [data-testid="stColumn"]:has([data-testid="stImage"]):not(:has(:is([data-testid="stPlotlyChart"],
    [data-testid="stHorizontalBlock"]))) {min-width: min(5.5rem, 100%) !important; flex: 1 1 5.5rem !important;}
}
[data-testid="stMetricValue"] {font-size: clamp(1.4rem, 4.5vw, 2.25rem);}
[data-testid="stMetricValue"] p {overflow-wrap: anywhere;}
.katex-display {overflow-x: auto; overflow-y: hidden;}
.katex-display > .katex {max-width: 100%;}
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] {padding-left: 1rem !important; padding-right: 1rem !important;}
}
@media (max-width: 640px) and (hover: none) {
  .js-plotly-plot .modebar-container {display: none;}
}
"""

#: Display equations shrink to fit their column (down to 55 % of their size; narrower still, they scroll):
#: a lecture's aligned equation does not break into lines, and in the step's column at 1400 px one was cut off.
_FIT_JS = """
(() => {
  if (window.__genlabFit) return;
  window.__genlabFit = true;
  let queued = false;
  const fit = () => {
    queued = false;
    document.querySelectorAll('.katex-display > .katex').forEach((k) => {
      const box = k.parentElement, avail = (k.closest('[data-testid="stMarkdown"]') || box).clientWidth;
      if (!avail) return;
      const base = parseFloat(k.dataset.genlabEm || '0') || parseFloat(getComputedStyle(k).fontSize)
                   / parseFloat(getComputedStyle(box).fontSize);
      k.dataset.genlabEm = base;
      k.style.fontSize = base + 'em';
      const need = k.scrollWidth;
      if (need > avail) k.style.fontSize = Math.max(0.55 * base, base * (avail - 2) / need) + 'em';
    });
  };
  const later = () => { if (!queued) { queued = true; requestAnimationFrame(fit); } };
  new MutationObserver(later).observe(document.body, {childList: true, subtree: true});
  window.addEventListener('resize', later);
  later();
})();
"""


def _top_level(latex: str, pattern: str) -> list[int]:
    r"""Start and end offsets of the matches of ``pattern`` outside braces, ``\left...\right`` and environments."""
    import re

    cuts, depth = [], 0
    for m in re.finditer(r"\\(?:begin|end|left|right)\b|[{}]|" + pattern + r"|\\.", latex):
        t = m.group(0)
        if t in ("{", "\\begin", "\\left"):
            depth += 1
        elif t in ("}", "\\end", "\\right"):
            depth -= 1
        elif depth == 0 and re.fullmatch(pattern, t):
            cuts.append((m.start(), m.end()))
    return cuts


def _visible_length(latex: str) -> int:
    """A rough width of an equation in characters: a command counts as one, braces and scripts' marks as none."""
    import re

    return len(re.sub(r"[{}^_&\s]", "", re.sub(r"\\[a-zA-Z]+", "x", latex)))


def stack_parts(latex: str, long: int = 34) -> str:
    r"""A step's equation reflowed for a narrow column: its top-level parts (separated by ``\quad`` or ``\qquad``)
    on lines of their own, and a long chain ``a = b = c`` aligned at its ``=`` signs, one line each.

    Steps set side by side what belongs together ("the loss \qquad vs \qquad the other loss"); in the step's column
    (about 360 px at 1400 px with the sidebar open, a phone's width when stacked) such a line shrank to half its
    size to fit. A display equation does not break lines by itself; the parts inside braces, ``\left...\right``
    or an environment are left alone, and an equation short enough for one line (``long`` characters, roughly)
    is left as it is."""
    if _visible_length(latex) <= long:
        return latex
    parts, start = [], 0
    for a, b in _top_level(latex, r"\\q?quad\b"):
        parts.append(latex[start:a])
        start = b
    parts = [x.strip().rstrip(",").strip() if i < len(parts) else x.strip()
             for i, x in enumerate(parts + [latex[start:]])]
    parts = [x for x in parts if x]
    lines = []
    for part in parts:
        eqs = _top_level(part, "=")
        if _visible_length(part) > long and len(eqs) >= 2:
            pieces, start = [], 0
            for a, _ in eqs:
                pieces.append(part[start:a])
                start = a + 1
            pieces.append(part[start:])
            part = r"\begin{aligned}" + pieces[0] + "&=" + r"\\ &=".join(pieces[1:]) + r"\end{aligned}"
        lines.append(part)
    if len(lines) < 2 and lines == parts:
        return latex
    return r"\begin{gathered}" + r"\\ ".join(lines) + r"\end{gathered}"


def _layout_style() -> None:
    st.html("<style>" + _LAYOUT_CSS + "</style><script>" + _FIT_JS + "</script>", unsafe_allow_javascript=True)


class Walkthrough:
    """Numbered steps in the lecture's order, each shown beside the live figure it explains.

    With the walkthrough off, the page is explored by *views*: a switch ("Show") picks one view and
    only that view's sections run and draw, so a page opens with two or three figures, not ten, and a
    page-wide control redraws only what is on screen. The view is in the URL (``?view=...``). A page
    without views draws every section. With the walkthrough on, only the section of the current step
    is drawn, with the step's equation and text next to it, and previous/next controls at the top:
    one idea at a time, for a classroom.

    The switch is drawn where :meth:`switch` is first called, by default just before the first
    section: a page whose first section runs inside a fragment calls ``wt.switch()`` before it.
    """

    def __init__(self, steps: list[Step], views: list[View] | None = None):
        self.steps = steps
        self.views = list(views or [])
        self._listed = {s for v in self.views for s in v.sections}
        missing = {s.section for s in steps} - self._listed
        if self.views and missing:
            raise ValueError(f"walkthrough steps explain sections no view shows: {sorted(missing)}")
        self._view: View | None = None
        self.on = bool(st.session_state.get("walkthrough", False))
        self.index = 0
        _layout_style()
        if self.on:
            n = len(steps)
            titles = [f"{i + 1}. {s.title}" for i, s in enumerate(steps)]

            def _move(delta):
                cur = st.session_state.get("step", titles[0])
                i = titles.index(cur) if cur in titles else 0
                st.session_state["step"] = titles[max(0, min(n - 1, i + delta))]

            state = url()
            raw = state.raw.get("step", "")
            if raw.isdigit() and 1 <= int(raw) <= n and "_genlab_step_from_link" not in st.session_state:
                # a lesson link may give the step as its number: /gan?walkthrough=true&step=3
                st.session_state["_genlab_step_from_link"] = True
                st.session_state["step"] = state.raw["step"] = titles[int(raw) - 1]
            # one row, Back and Next as wide as their labels and the step list taking the rest (columns cut the
            # buttons to "B" and "N" on a laptop with the sidebar open); on a phone the row wraps
            row = st.container(horizontal=True, vertical_alignment="bottom", key="genlab_step_row")
            row.button("Back", icon=":material/arrow_back:", on_click=_move, args=(-1,), width="content")
            choice = state.selectbox(f"Walkthrough step (of {n})", titles, key="step", container=row)
            row.button("Next", icon=":material/arrow_forward:", on_click=_move, args=(1,), width="content")
            self.index = titles.index(choice)
            if self.views:  # the view switch is not drawn; widgets of views without this step wait
                state.deferred.add("view")
                section = self.current.section
                state.deferred.update(k for v in self.views if section not in v.sections for k in v.keys)

    @property
    def current(self) -> Step:
        return self.steps[self.index]

    @property
    def view(self) -> View | None:
        """The view shown in explore mode (None in walkthrough mode or on a page without views)."""
        self.switch()
        return self._view

    def switch(self, container=st) -> None:
        """Draw the view switch here (explore mode, pages with views; once per run)."""
        if self.on or not self.views or self._view is not None:
            return
        if _in_fragment():
            raise RuntimeError("the view switch must be drawn outside fragments: call wt.switch() before the fragment")
        labels = [v.label for v in self.views]
        state = url()
        label = state.segmented("Show", labels, key="view", container=container,
                                help="Each view runs and draws only its own figures.")
        self._view = self.views[labels.index(label)]
        state.deferred.update(k for v in self.views if v is not self._view for k in v.keys)

    def shows(self, section: str) -> bool:
        if self.on:
            return self.current.section == section
        if not self.views or section not in self._listed:
            return True
        self.switch()
        return section in self._view.sections

    def section(self, section: str, draw, isolated: bool = False) -> None:
        """Draw ``draw()`` for ``section`` (and, in walkthrough mode, the current step beside it).

        ``isolated=True`` for a section whose widgets shape only its own figures: it becomes a
        fragment, so moving one of its widgets reruns just that section (see :func:`fragment`)."""
        if not self.shows(section):
            return
        if isolated:
            fragment(lambda: self.section(section, draw))()
            return
        if not self.on:
            draw()
            return
        s = self.current
        if url().present:  # presenter view: the figure first and full width, the idea under it
            st.markdown(f"### Step {self.index + 1}. {s.title}")
            draw()
            if s.latex:
                st.latex(s.latex)
            st.markdown(s.text)
            return
        # side by side while the page is wide enough; narrower, stacked with the step first (_LAYOUT_CSS)
        fig_col, text_col = st.container(key="genlab_walkthrough").columns([3, 2], gap="large")
        with text_col:
            st.markdown(f"#### Step {self.index + 1}. {s.title}")
            if s.latex:
                st.latex(stack_parts(s.latex))
            st.markdown(s.text)
        with fig_col:
            draw()


def table(rows, digits: int = 3, index: str | None = None, labels: dict | None = None, container=None) -> None:
    """A small table of numbers as one static markdown table, floats shown with ``digits`` decimals.

    For a handful of rows the interactive ``st.dataframe`` grid costs a second of browser work (its canvas
    grid loads on first use), and ``st.table`` of a pandas Styler cost the server 6 % of a page open (the
    Styler renders every cell); a markdown table is one string. ``rows`` is a list of dicts (one per row) or
    a dict of dicts (outer keys become the index); ``index`` names the column to use as index; ``labels``
    renames columns. None (or NaN) is shown as an empty cell; every cell is escaped (``core.text``).
    """
    import math

    from core.text import escape_md

    if isinstance(rows, dict):
        names, rows = [str(k) for k in rows], list(rows.values())
        first = ""
    else:
        rows = list(rows)
        names = [r.get(index) for r in rows] if index is not None else None
        first = index or ""
    cols = [c for c in dict.fromkeys(k for r in rows for k in r) if c != index]

    def fmt(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f"):
            return f"{float(v):.{digits}f}"
        return escape_md(v).replace("|", "\\|")

    head = ([escape_md(first)] if names is not None else []) + [escape_md((labels or {}).get(c, c)) for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(rows):
        cells = ([f"**{fmt(names[i])}**"] if names is not None else []) + [fmt(r.get(c)) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    (container or st).markdown("\n".join(lines))


# ---- views computed once per process

@st.cache_resource(max_entries=512, show_spinner=False)
def _shared(page: str, name: str, key, _build):
    out = _build()
    try:
        from plotly.basedatatypes import BaseFigure
    except ImportError:  # plotly is a requirement; this only keeps the helper generic
        return out
    if isinstance(out, BaseFigure):
        # kept in its wire form (numpy arrays already as plotly's base64 typed arrays): st.plotly_chart then
        # only copies and dumps strings on every open, 2.5 -> 1.5 ms a chart here
        import plotly.io as pio

        out = pio.from_json(pio.to_json(out, validate=False), skip_invalid=True)
    return out


def shared(name: str, key, build):
    """What ``build()`` returns (a figure, a view's numbers), built once per process for this page, ``name`` and
    settings ``key``, then shared read-only by every session that asks for the same: a class of 30 opening one
    lesson link builds its figures once, and each open only sends them. ``key`` must hold every setting the
    result depends on (a config dataclass, a tuple of widget values); nothing may change the result later."""
    return _shared(_page_id(), name, key, build)


# ---- heavy actions: one admission path (core.admission), drawn

def _admit(what: str, box):
    """A ticket from the server's gate for ``what``, drawn in ``box`` (an ``st.status``): "queued" while
    every slot is taken; after 5 minutes the box says the server is busy and the run stops (``st.stop``)."""
    from core import admission

    gate = admission.gate()
    ticket = gate.try_enter(what)
    if ticket is not None:
        return ticket
    with box:
        note = st.empty()
        note.info(f"Queued: the server already runs {gate.n} heavy action{'s' if gate.n > 1 else ''} (its limit). "
                  "Yours starts as soon as one finishes.", icon=":material/hourglass_top:")
        try:
            ticket = gate.enter(what, wait=300)
        except admission.Busy:
            box.update(label="The server is busy: no slot freed up in 5 minutes. Try again later; what is shown "
                             "stays as it was.", state="error")
            st.stop()
        try:
            note.empty()  # any st call may raise Streamlit's stop (the tab closed): never leave with the slot held
        except BaseException:
            ticket.release()
            raise
    return ticket


class heavy:
    """``with ui.heavy("Measuring the trade-off", estimate_s=...) as ticket:`` -- any heavy action that is not a
    step-by-step training (those use :class:`TrainingProgress`): refused with a clear message when its stated
    estimate exceeds the server's cap on one action, queued for a slot, the slot released whatever ends the
    block. Loops inside ask ``ticket.expired()`` to stop at the time cap. ``label`` heads an ``st.status`` box."""

    def __init__(self, label: str, estimate_s: float | None = None):
        self.label, self.estimate_s, self.ticket = label, estimate_s, None

    def __enter__(self):
        from core import admission

        if self.estimate_s is not None:
            try:
                admission.check_cost(self.estimate_s, self.label)
            except admission.TooCostly as e:
                st.error(str(e), icon=":material/timer_off:")
                st.stop()
        self.status = st.status(self.label, expanded=True)
        self.ticket = _admit(self.label, self.status)
        return self.ticket

    def __exit__(self, exc_type, exc, tb):
        if self.ticket is not None:
            self.ticket.release()
        self.status.update(state="error" if exc_type is not None else "complete", expanded=False)
        return False


def max_action_seconds() -> float:
    """The server's cap on one heavy action, in seconds (``GENLAB_MAX_TRAIN_SECONDS``)."""
    from core import admission

    return admission.gate().seconds


@st.cache_resource(show_spinner=False)
def _runs_in_flight():
    """Process-wide: live trainings running now, by the key of what they will store -> threading.Event."""
    return {}, threading.Lock()


class one_run_per_key:
    """``with ui.one_run_per_key(key, ready) as mine:`` -- one live training per identical configuration.

    When a class clicks *Train live* on the same preset at once, every session would train the same model
    and queue for the server's few training slots. Instead the first session trains (``mine`` is True) and
    the others wait for it with a message, then use what it stored (``mine`` is False once ``ready()``
    says the result is there). If that run failed or took too long, the waiting session trains itself.
    Models are stored in the page's shared store, read-only for sessions, so waiting sessions share one.
    """

    def __init__(self, key: str, ready, what: str = "this exact model"):
        self.key, self.ready, self.what = key, ready, what
        self.event = None

    def __enter__(self) -> bool:
        runs, lock = _runs_in_flight()
        with lock:
            other = runs.get(self.key)
            if other is None:
                self.event = runs[self.key] = threading.Event()
                return True
        with st.status(f"Another session is training {self.what} right now: waiting for its result instead of "
                       "training it twice.", expanded=False) as box:
            other.wait(timeout=max_action_seconds() + 60)
            if self.ready():
                box.update(label=f"Using the model another session just trained ({self.what}).", state="complete")
                return False
            box.update(label="The other session's run did not finish: training here.", state="error")
        return True

    def __exit__(self, *exc):
        if self.event is not None:
            runs, lock = _runs_in_flight()
            with lock:
                if runs.get(self.key) is self.event:
                    del runs[self.key]
            self.event.set()
        return False


class TrainingProgress:
    """``with ui.TrainingProgress(steps, label) as progress:`` -- a progress callback for core training loops,
    ``callback(step, metrics) -> stop?``, holding one of the server's slots for the length of the block.

    Drives an ``st.status`` box with ``st.progress`` and a live line chart of the metrics, redrawn every
    ``every`` steps (drawing is the slow part, so not on every step). On entry it takes a ticket from the
    server's gate (:mod:`core.admission`; "queued" while every slot is taken); on exit it gives it back,
    however the block ends: done, an exception, a rerun, or the stop Streamlit raises when the tab is closed.
    A run longer than the server's cap (``GENLAB_MAX_TRAIN_SECONDS``) is asked to stop, and the box says so.
    """

    def __init__(self, total_steps: int, label: str = "Training", every: int = 10, chart_keys=None):
        self.total = max(1, int(total_steps))
        self.every = max(1, int(every))
        self.keys = chart_keys
        self.label = label
        self.history: list[dict] = []
        self._drawn = 0
        self.stopped_for_time = False
        self.finished = False
        self.ticket = None

    def __enter__(self) -> TrainingProgress:
        self.status = st.status(self.label, expanded=True)
        self.ticket = _admit(self.label, self.status)
        try:  # __exit__ does not run when __enter__ raises: a stop raised while drawing must not keep the slot
            with self.status:
                self.bar = st.progress(0.0)
                self.chart = st.empty()
        except BaseException:
            self.ticket.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.ticket is not None:
            self.ticket.release()
        if exc_type is not None and not self.finished and issubclass(exc_type, Exception):
            self.status.update(label="Training stopped by an error", state="error", expanded=True)
        return False

    def __call__(self, step: int, metrics: dict) -> bool:
        row = {"step": step, **{k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}}
        if len(self.history) < 5000:  # per-session memory stays bounded, whatever the step count
            self.history.append(row)
        if step - self._drawn >= self.every or step >= self.total:  # works for any callback interval
            self._drawn = step
            self.bar.progress(min(1.0, step / self.total), text=f"step {step:,} of {self.total:,}")
            import pandas as pd

            from core.viz.common import metric_label

            df = pd.DataFrame(self.history).set_index("step")
            if self.keys:
                df = df[[k for k in self.keys if k in df]]
            self.chart.line_chart(df.rename(columns=metric_label))  # "held-out sliced Wasserstein", not "test/swd"
        if self.ticket is not None and self.ticket.expired():
            self.stopped_for_time = True
            return True
        return False

    def done(self, message: str, ok: bool = True) -> None:
        self.finished = True
        if self.ticket is not None:
            self.ticket.release()
        if self.stopped_for_time:
            message += f" (stopped at the server's limit of {max_action_seconds():.0f} s per live run)"
        self.bar.progress(1.0)
        self.status.update(label=message, state="complete" if ok else "error", expanded=not ok)


# ---- checkpoints

def load_or_offer_training(load, train, what: str):
    """Return ``load()``; if the checkpoint is missing or corrupt, say so and offer to train it now.

    ``load`` raises ``core.checkpoints.CheckpointError``; ``train`` is called (with the user's
    click) to build the model live instead. Returns None while neither is available.
    """
    from core.checkpoints import CheckpointError

    try:
        return load()
    except CheckpointError as e:
        st.warning(f"The shipped {what} could not be loaded: {e}", icon=":material/error:")
        if st.button(f"Train the {what} now", icon=":material/model_training:", key=f"train_now_{what}"):
            return train()
        return None


# ---- reading the code

#: Session-state keys of the two code expanders (True = open); tests open them through these.
SHOW_CODE_KEY, REPRODUCE_KEY = "_genlab_show_code", "_genlab_reproduce"

def _code_expander(label: str, key: str, icon: str):
    """An expander whose content is made only while it is open (``.open``; opening it reruns the page).

    Code is drawn by ``st.code``, whose syntax highlighter is a 1.5 MB script: a collapsed expander still
    mounts its children, so a code listing folded away cost every first page load about a second of
    browser work here. Made lazily, the highlighter loads only for someone who opens the code.
    Returns the expander, or None while it is closed.
    """
    box = st.expander(label, icon=icon, key=key, on_change="rerun")
    return box if box.open else None


def show_code(*objects, label: str = "Show the code") -> None:
    """An expander with the exact source of the core functions that made the figures above
    (left out in the presenter view and when a lesson link hides ``code``)."""
    state = url()
    if state.present or "code" in state.hidden:
        return
    box = _code_expander(label, SHOW_CODE_KEY, ":material/code:")
    if box is None:
        return
    with box:
        for obj in objects:
            try:
                src = inspect.getsource(obj)
            except (OSError, TypeError):
                continue
            st.caption(f"`{obj.__module__}.{obj.__qualname__}`")
            st.code(src, language="python")


def reproduce(code: str, name: str = "genlab_view.py") -> None:
    """An expander with the current view as a runnable Python script (see ``core.snippets``) and a
    download button for it (left out in the presenter view and when a lesson hides ``code``)."""
    state = url()
    if state.present or "code" in state.hidden:
        return
    box = _code_expander("Reproduce this view in Python", REPRODUCE_KEY, ":material/terminal:")
    if box is None:
        return
    with box:
        st.code(code, language="python")
        st.download_button("Download the script", code, file_name=name, mime="text/x-python",
                           icon=":material/download:")


def download_png(images, settings: dict, name: str, label: str = "Download as PNG", container=None) -> None:
    """A download button for an image (H, W) or (H, W, 3) in [0, 1] as a PNG whose text chunks
    carry ``settings`` (model, seed, steps...), so a saved picture says how it was made."""
    import io
    import json

    import numpy as np
    from PIL import Image, PngImagePlugin

    arr = (np.clip(np.asarray(images, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("genlab", json.dumps(settings, default=str))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", pnginfo=info)
    (container or st).download_button(label, buf.getvalue(), file_name=name, mime="image/png",
                                      icon=":material/download:", help="Settings: " + ", ".join(
                                          f"{k}={v}" for k, v in settings.items()))


# ---- the shared sidebar

@st.cache_resource(show_spinner=False)
def _device_label() -> str:
    from core.runtime import device_label

    return device_label()


_FOOTER_KEY = "_genlab_footer_box"


def reserve_sidebar_footer() -> None:
    """Called by the router before the page runs: the sidebar place that :func:`sidebar_footer` fills."""
    st.session_state[_FOOTER_KEY] = st.sidebar.empty()


def sidebar_footer(state: UrlState | None = None) -> None:
    """Device in use, the seed of what is shown, and the link that reopens this exact view.

    The router fills the reserved place after the page ran; :func:`fragment` refills it when only a
    fragment reran, so the link never lags behind a widget that lives inside a fragment.
    """
    box = st.session_state.get(_FOOTER_KEY)
    state = state or url()
    with (box.container() if box is not None else st.sidebar):
        st.divider()
        seed = st.session_state.get("seed") if "seed" in state.values else None
        st.caption(f":material/memory: Device: **{_device_label()}**  \n"  # one element: every open sends it
                   f":material/casino: Seed of this view: **{seed if seed is not None else 'none (nothing random here)'}**")
        # In a popover: its content is made only when opened, so st.code's 1.5 MB syntax highlighter
        # no longer loads with every first page view (it cost about 0.35 s of browser work per page here).
        with st.popover("Link to this view", icon=":material/link:", width="stretch",
                        help="The link reopens this page with these settings, model and seed."):
            st.caption("Copy it with the button on the right:")
            st.code(state.link(st.context.url), language=None, wrap_lines=True)


def fragment(draw, run_every=None):
    """``st.fragment(draw)`` that also refreshes the sidebar's seed and link after each rerun of it.

    A widget inside a fragment reruns only the fragment (a slider drag redraws one figure, not the
    page); Streamlit lets a fragment rewrite a container made outside it, which keeps the link current.
    """
    def run():
        _FRAGMENT_DEPTH.n = getattr(_FRAGMENT_DEPTH, "n", 0) + 1
        try:
            draw()
        finally:
            _FRAGMENT_DEPTH.n -= 1
        if st.session_state.get(_FOOTER_KEY) is not None:
            sidebar_footer()
        from core import class_ui

        class_ui.publish(url())  # a teacher's widget inside a fragment moves the class too

    run.__name__ = run.__qualname__ = getattr(draw, "__name__", "fragment")
    return st.fragment(run, run_every=run_every)


# ---- the user's own points

def points_editor(name: str, box, intro: str, caption: str, color: str | None = None):
    """Click-to-add canvas, CSV upload (bad files get a clear message) and undo/clear for a page's own points.

    The points live in ``st.session_state[f"_{name}_points"]``; returns them as a float32 (n, 2) array.
    """
    import numpy as np

    from core import data as gdata
    from core.viz.common import PALETTE, click_canvas

    pts = st.session_state.setdefault(f"_{name}_points", [])
    st.markdown(intro)
    a, b = st.columns([3, 2])
    with a:
        event = st.plotly_chart(click_canvas(pts, box, "Click to add points", color=color or PALETTE[0]), key="canvas",
                                on_select="rerun", selection_mode="points")
        try:
            clicked = [(p["x"], p["y"]) for p in event.selection["points"] if p.get("curve_number", 0) == 0]
        except (AttributeError, KeyError, TypeError):
            clicked = []
        # the selection comes from the browser: keep finite numbers in range only, and within the session's bound
        lim = gdata.PointLimits()
        clicked = [(x, y) for x, y in clicked if all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     and math.isfinite(v) and abs(v) <= lim.max_abs for v in (x, y))]
        sig = tuple(clicked)
        if clicked and st.session_state.get(f"_{name}_last_click") != sig:
            st.session_state[f"_{name}_last_click"] = sig
            if len(pts) + len(clicked) <= lim.max_total:
                pts.extend([float(x), float(y)] for x, y in clicked)
                st.rerun()
            st.toast(f"At most {lim.max_total:,} points in all: clear some first.", icon=":material/block:")
    with b:
        up = st.file_uploader("CSV with two columns x,y (a header row is allowed)", type=["csv", "txt"], key="csv")
        if up is not None and st.session_state.get(f"_{name}_csv") != up.file_id:
            try:
                X = gdata.parse_points_csv(up.getvalue())
                gdata.check_room(len(pts), len(X))  # a bound on the session's points in all, not per file
            except gdata.DataError as e:
                # the file's name and its cells are the visitor's text: shown as typed, never as markdown
                st.error(f"Could not use {quote(up.name, 120)}: {escape_md(e)}", icon=":material/error:")
            else:
                st.session_state[f"_{name}_csv"] = up.file_id
                pts.extend(X.tolist())
                st.rerun()
        c1, c2 = st.columns(2)
        if c1.button("Undo last", key="undo", disabled=not pts, width="stretch"):
            pts.pop()
            st.rerun()
        if c2.button("Clear", key="clear", disabled=not pts, width="stretch"):
            pts.clear()
            st.rerun()
        st.caption(caption.format(n=len(pts), min_rows=gdata.PointLimits.min_rows))
    return np.asarray(pts, np.float32).reshape(-1, 2)
