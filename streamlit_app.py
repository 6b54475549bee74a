"""GenLab's entry point: the router and the shared sidebar. No page content lives here."""
import os

# Before any page loads torch: idle OpenMP threads sleep instead of spinning. On a busy 2-core
# server spinning workers made a training step 13x slower (178 ms vs 13.5 ms measured here).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The server's one thread policy (core.runtime.server_threads): every computation on one thread unless the
# operator says otherwise; set before torch or numpy load so their thread pools start that size.
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("GENLAB_TORCH_THREADS", "1"))

import streamlit as st  # noqa: E402

from core import class_ui, ui  # noqa: E402
from core.app_pages import HOME, PAGES  # noqa: E402

# The presenter view (?present=true) opens with the sidebar folded away: figures first, for a projector.
presenting = st.query_params.get("present", "").lower() in ("true", "1", "yes")
st.set_page_config(page_title="GenLab: see generative models work", page_icon=":material/science:", layout="wide",
                   initial_sidebar_state="collapsed" if presenting else "auto")

state = ui.begin_run()
notices = st.container()  # above the page: messages about the link it was opened with
class_bar = st.container()  # above the page: class mode's bar (the teacher's controls, a student's question)

home = st.Page(HOME.path, title=HOME.title, icon=HOME.icon, default=True)
pages = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path) for p in PAGES]
nav = st.navigation({"GenLab": [home], "The lecture": pages})
# class mode: join from a link, or follow the teacher (may switch page, and sets this run's widgets to theirs)
class_ui.begin(state, nav.url_path, {"": home, **{p.url_path: page for p, page in zip(PAGES, pages)}})
ui.page_style(state)

with st.sidebar:
    state.toggle("Walkthrough", False, key="walkthrough",
                 help="Step through the page in the lecture's order: one idea, its equation and its figure at a time.")

ui.reserve_sidebar_footer()  # filled after the page; fragments refill it (ui.fragment)
nav.run()

ui.show_url_notices(state, notices)
class_ui.panel(state, nav.url_path, class_bar)
ui.sidebar_footer(state)
