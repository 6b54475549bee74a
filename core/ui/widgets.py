"""Widgets the pages share: tables, "Show the code" and "Reproduce" expanders, PNG downloads, fragments that
publish to a class, the points editor."""
from __future__ import annotations

import inspect
import math

import streamlit as st

from core.ui.sidebar import _FOOTER_KEY, sidebar_footer
from core.ui.url import _FRAGMENT_DEPTH, escape_md, quote, url


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


# ---- fragments


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
