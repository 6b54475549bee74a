"""One rule for text a visitor supplies: it is shown as the visitor typed it, never rendered as markdown.

Streamlit renders the body of ``st.markdown``, ``st.warning``, ``st.error``, ``st.info``, ``st.success``,
``st.caption``, ``st.toast`` and status labels as markdown (CommonMark + GitHub's extensions + LaTeX + emoji and
colour directives). A prompt, a model folder typed into a field or carried by a link, an upload's file name or a
cell of an uploaded CSV pasted into one of those would become live markdown on the page of whoever opens the
link: ``[Session expired: log in](https://evil.example)`` a link, ``![](https://evil.example/p.png)`` a remote
image, ``$\\href{...}$`` LaTeX, ``# big`` a heading. Two ways to show such text, both pure functions (no
Streamlit here, so core modules and tests use them too):

- :func:`escape_md`: the text itself, every ASCII punctuation character backslash-escaped (CommonMark's rule: an
  escaped punctuation character is always a literal character), line breaks and control characters turned into
  spaces. What renders is exactly what was typed, and nothing in it can start a construct.
- :func:`quote`: the text as an inline code span (backticks in it replaced, so it cannot end the span early),
  for short values named in a message (``seed=abc``, a file name).

Messages made in ``core`` are plain text; the Streamlit layer (``core/ui.py``, ``pages/``) passes any of them that
can carry a visitor's text through one of these before it reaches the page (``tests/test_user_text.py`` checks).
"""
from __future__ import annotations

import re

#: CommonMark's "ASCII punctuation": a backslash before any of these makes it a literal character.
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")
#: Line breaks, tabs, other control characters, and Unicode's invisible direction overrides (which can make a
#: file name read backwards): all become one space.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]+")


def _cut(text, limit: int | None) -> str:
    text = _CONTROL.sub(" ", "" if text is None else str(text))
    if limit is not None and len(text) > limit:
        text = text[:limit] + "\u2026"  # an ellipsis, not three dots: nothing to escape
    return text


def escape_md(text, limit: int | None = None) -> str:
    """``text`` as markdown that renders as exactly this text (cut to ``limit`` characters when given, line
    breaks and control characters made spaces): links, images, HTML, emphasis, code, LaTeX ``$``, headers,
    lists, tables, emoji and colour directives, autolinks (``https://``, ``www.``, ``a@b.c``) all stay inert."""
    return _PUNCT.sub(r"\\\1", _cut(text, limit))


def quote(text, limit: int | None = 60) -> str:
    """``text`` as an inline code span, cut to ``limit`` characters: for a short value named in a message. Its
    backticks are replaced by ``'`` so the span cannot be closed early and live markdown smuggled after it."""
    body = _cut(text, limit).replace("`", "'")
    return f"`{body}`" if body.strip() else "` `"


def unescape_md(text: str) -> str:
    """The inverse of :func:`escape_md` on its output (for tests and logs that compare what was shown)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(text))
