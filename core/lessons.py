"""Ready-made lesson links, in the lecture's order: pure data, no Streamlit.

A lesson opens one page in walkthrough mode at one step (``walkthrough=true&step=N``) and may hide
controls that the lesson does not need (``hide=key1,key2``; the keys are the pages' URL parameters,
plus ``code`` for the "Show the code" expanders). The home page lists these; a teacher can build
others the same way, or add ``present=true`` for the presenter view. tests/test_lessons.py opens
every lesson and checks that it lands on the right step with nothing in the link ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True)
class Step:
    title: str      # short heading
    latex: str      # the lecture's equation for this step (LaTeX, no $)
    text: str       # two or three sentences, in our own words
    section: str    # which figure section of the page it explains


@dataclass(frozen=True)
class View:
    """One view of a page in explore mode: a label for the switch, the sections it draws, and the
    URL keys of the widgets that only these sections draw (so a link may carry them while another
    view is shown, without a notice calling them unknown)."""
    label: str
    sections: tuple[str, ...]
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lesson:
    title: str
    page: str                 # url_path of the page (core.app_pages)
    step: int                 # walkthrough step, from 1
    about: str                # one line: what the students see
    hide: tuple[str, ...] = field(default_factory=tuple)
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # other view settings, (key, value)

    def query(self, present: bool = False) -> dict[str, str]:
        q = {"walkthrough": "true", "step": str(self.step), **dict(self.extra)}
        if self.hide:
            q["hide"] = ",".join(self.hide)
        if present:
            q["present"] = "true"
        return q

    def link(self, base: str = "", present: bool = False) -> str:
        return f"{base}/{self.page}?{urlencode(self.query(present))}"


GAN_KNOBS = ("loss", "lrd", "lrg", "k", "batch", "b1", "b2", "gw", "gd", "dw", "dd", "nz", "noise", "act", "pack", "mbstd")
FLOW_KNOBS = ("K", "width", "steps", "lr", "coupling")

def _load() -> list[Lesson]:
    """The lessons of core/lessons.toml, in its order."""
    import tomllib
    from pathlib import Path

    knobs = {"gan": GAN_KNOBS, "flow": FLOW_KNOBS}
    rows = tomllib.loads(Path(__file__).with_name("lessons.toml").read_text(encoding="utf-8"))["lesson"]
    return [Lesson(r["title"], r["page"], int(r["step"]), r["about"],
                   hide=knobs.get(r.get("knobs"), ()) + tuple(r.get("hide", ())),
                   extra=tuple((k, str(v)) for k, v in r.get("extra", {}).items())) for r in rows]


LESSONS: list[Lesson] = _load()


def lessons_for(pages: set[str]) -> list[Lesson]:
    """The lessons whose page exists (a lesson never links to a page that is not built)."""
    return [lesson for lesson in LESSONS if lesson.page in pages]


def _link(href: str, text: str) -> str:
    from html import escape

    return f'<a href="{escape(href)}" target="_self">{escape(text)}</a>'


def pages_list(pages) -> str:
    """The pages as one markdown list of same-tab links with their one-line blurbs (``core.app_pages`` specs)."""
    from html import escape

    return "\n".join(f"- **{_link(p.url_path, p.title)}**: {escape(p.blurb)}" for p in pages)


def lessons_table(lessons: list[Lesson], titles: dict[str, str]) -> str:
    """The lessons as one markdown list, grouped by page in the lecture's order (a list, not a table, so it
    reads on a phone), whose links are plain same-tab links: clicked, a lesson opens exactly as the same link
    pasted into the address bar (a page link inside the app would keep the session's own walkthrough and view).
    ``titles``: page url_path -> title. Static text only (GenLab's own lesson list), escaped, rendered with
    ``unsafe_allow_html`` for the links' target."""
    from html import escape

    link = _link
    out, page = [], None
    for lesson in lessons:
        if lesson.page != page:
            page = lesson.page
            out.append(f"\n**{escape(titles.get(page, page))}**\n")
        out.append(f"- {link(lesson.link()[1:], f'Step {lesson.step}: {lesson.title}')} "
                   f"({link(lesson.link(present=True)[1:], 'presenter view')}): {escape(lesson.about)}")
    return "\n".join(out)
