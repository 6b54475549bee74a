"""The sidebar's footer: device, seed of this view, share link."""
from __future__ import annotations

import streamlit as st

from core.ui.url import UrlState, url


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
