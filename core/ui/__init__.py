"""The app layer: the only Streamlit-aware part of core, one small module a concern.

Pages stay thin: they read widgets through :func:`url` (so every view lives in the URL), call core functions
through Streamlit's caches, and draw. Nothing here trains or plots by itself.

- :mod:`core.ui.url`: URL state (:class:`UrlState`): widgets bound to the link, malformed or unknown parameters
  told, class mode's following, the page's style and seed.
- :mod:`core.ui.walkthrough`: :class:`Walkthrough`, its steps and views, and the layout rules every page shares.
- :mod:`core.ui.models`: what the sessions of one process share: bounded stores, figures built once per settings
  (:func:`shared`), the server's training slots with one progress box (:class:`heavy`, :class:`TrainingProgress`,
  :class:`one_run_per_key`).
- :mod:`core.ui.live`: models trained live (:class:`ModelStore`, :func:`model_store`) and the one rule by which a
  link brings one back (:func:`link_value`, :func:`from_link`, :func:`mark_trained`, ...).
- :mod:`core.ui.<page>`: one page's caches, stores and live training, where it needs more than one-liners.
- :mod:`core.ui.widgets`: tables, code and download expanders, :func:`fragment`, the points editor.
- :mod:`core.ui.sidebar`: the sidebar's footer.

Pages write ``ui.<name>``: the names below are the layer's whole surface.
"""
from core.lessons import Step, View
from core.ui.live import TRAINED_KEY, ModelStore, check_link_value, from_link, link_says_trained, link_value, mark_trained, tensor_bytes, train_label
from core.ui.live import store as model_store
from core.ui.models import BoundedStore, TrainingProgress, heavy, load_or_offer_training, max_action_seconds, one_run_per_key, shared
from core.ui.sidebar import reserve_sidebar_footer, sidebar_footer
from core.ui.url import GLOBAL_KEYS, UrlState, _page_id, _quote, begin_run, escape_md, forget_forced, page_style, quote, require_router, seed_input, show_url_notices, url
from core.ui.walkthrough import _LAYOUT_CSS, Walkthrough, page_header, stack_parts
from core.ui.widgets import REPRODUCE_KEY, SHOW_CODE_KEY, download_png, fragment, points_editor, reproduce, show_code, table

__all__ = [
    "TRAINED_KEY", "ModelStore", "check_link_value", "from_link", "link_says_trained", "link_value", "mark_trained",
    "model_store", "tensor_bytes", "train_label",
    "GLOBAL_KEYS", "REPRODUCE_KEY", "SHOW_CODE_KEY", "BoundedStore", "Step", "TrainingProgress", "UrlState", "View",
    "Walkthrough", "_LAYOUT_CSS", "page_header", "_page_id", "_quote", "begin_run", "download_png", "escape_md", "forget_forced",
    "fragment", "heavy", "load_or_offer_training", "max_action_seconds", "one_run_per_key", "page_style",
    "points_editor", "quote", "require_router", "reproduce", "seed_input", "shared", "show_code", "show_url_notices",
    "sidebar_footer", "reserve_sidebar_footer", "stack_parts", "table", "url",
]
