"""The walkthrough (lecture steps beside the figures) and explore views, and the layout rules every page
shares (figures, metrics and equations that fit the width they get)."""
from __future__ import annotations

import streamlit as st

from core.lessons import Step, View
from core.ui.url import UrlState, _in_fragment, url
from core.ui.widgets import fragment

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


def page_header(title: str, text) -> tuple[UrlState, Walkthrough]:
    """A page's first lines after the router's check: its title and introduction (``text.INTRO``, from
    core/steps/<page>.py), this run's URL state and the page's walkthrough (``text.STEPS``, ``text.VIEWS``)."""
    st.title(title)
    st.markdown(text.INTRO)
    return url(), Walkthrough(text.STEPS, text.VIEWS)


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
