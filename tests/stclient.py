"""A synchronous client of Streamlit's websocket protocol: one browser tab, without the browser.

It speaks to a running server (``streamlit run ...``, or a balancer in front of replicas) the way
Streamlit 1.67's frontend does, so a test or a load test exercises the server's real work (script
runs, caches, sessions, training slots) without a browser drawing anything::

    from tests.stclient import StreamlitClient, drawn

    with StreamlitClient("http://127.0.0.1:8501") as c:
        r = c.open("bayes", "walkthrough=true&step=1")   # a page load: new session, until the run ends
        assert r.ok, r.error                              # finished, no exception box, page found
        c.widget("n").value                               # 100: widgets by user key or by label
        r = c.set_widget("Points per class", 150)         # a rerun with every widget's current value
        r = c.click("Train")                              # a button (by label or key): one trigger rerun
        r = c.navigate("gan")                             # the sidebar's link: same session, other page

        c.open("gan", "n=2000")
        c.click("Train", wait=False)                      # send, do not wait for the end of the run
        c.wait(until=drawn("progress"))                   # ... until training has started
        c.close(abrupt=True)                              # the tab dies mid-training (close(): a closed tab)

Cookies: ``StreamlitClient(base, cookie="SERVERID=genlab2")`` (or a dict) sends them with every request;
cookies set by the server or a balancer on the page's GET are kept and sent on the websocket too
(``c.cookies``). What is on the page: ``c.widgets``, ``c.widget(key_or_label)``, ``c.elements``, ``c.texts()``,
``c.path``, ``c.query_string`` (the URL the frontend would show), ``c.session_id``, ``c.pages``.

Every action returns a :class:`RunResult`: seconds until the run finished, ``status`` (``"ok"``,
``"exception"``, ``"timeout"``, ``"dropped"``, ``"page_not_found"``, ``"compile_error"``,
``"error"``), the exception boxes shown, and counts of messages and bytes. An action never raises for
what the server did (time-outs and dropped sockets are results); it raises ``KeyError`` for a widget
that is not on the page and ``ValueError`` for a value the widget cannot take.

What it mirrors of the frontend (read from Streamlit 1.67's ``static/js`` and ``web/server``):

* Connect: an HTTP GET of the page (keeps its cookies, e.g. a balancer's sticky cookie) and of
  ``/_stcore/health`` (sets the ``_streamlit_xsrf`` cookie), then ``ws://HOST/_stcore/stream`` with
  subprotocols ``["streamlit", <xsrf cookie or PLACEHOLDER_AUTH_TOKEN>, <last session id>]`` and the
  cookies. The XSRF token only matters for auth cookies; no session id means a new session.
* A page load sends ``rerun_script`` with the URL's query string, ``page_name`` = the URL path
  (``page_script_hash`` empty) and no widget states. Later reruns send the current page's
  ``page_script_hash`` and *every* widget's current value (widgets commit their value on mount), plus a
  one-shot ``trigger_value`` for a clicked button. A widget inside an ``st.fragment`` sends the fragment's
  id, so only the fragment reruns. A widget bound to the URL (``bind="query-params"``) updates the query
  string before the rerun, as the frontend does; ``page_info_changed`` from the server replaces it.
* The ForwardMsg cache: messages marked ``cacheable`` are kept (per connection, as the frontend keeps
  them per socket) and their hashes sent in ``cached_message_hashes``; the server then sends a
  ``ref_hash`` instead of the message, which is resolved from the cache. Entries older than the server's
  ``max_cached_message_age`` runs are dropped after each finished run. ``cache=False`` advertises no
  hashes, so the server never sends a reference (every message in full).
* A run ends with ``script_finished`` of the run the server started for us (each run begins with a
  ``new_session`` carrying its run id; ``FINISHED_EARLY_FOR_RERUN`` means ``st.rerun()`` started another).
  Elements the run did not redraw are dropped at its end, as the frontend clears stale nodes.

Not mirrored: fragments with ``run_every`` are not rerun by themselves (call :meth:`auto_rerun`), file
uploads, chart selections (settable only as raw JSON through :meth:`set_widget`), forms beyond "a widget
in a form waits for the submit button", and the browser's own work (HTML, JS, drawing). The client is
not thread-safe: one per simulated user. It works under gevent's monkey-patching (Locust). The server
pings every 30 s and drops a socket that does not answer for 30 s more: a client idle for longer than
about a minute should call :meth:`idle` (which reads and answers) instead of sleeping.
"""
from __future__ import annotations

import http.cookiejar
import json
import math
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

__all__ = ["Element", "RunResult", "StreamlitClient", "Widget", "drawn", "open_page"]

FINISHED_OK = ForwardMsg.FINISHED_SUCCESSFULLY
FINISHED_COMPILE_ERROR = ForwardMsg.FINISHED_WITH_COMPILE_ERROR
FINISHED_EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN
FINISHED_FRAGMENT = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY

MAIN, SIDEBAR = 0, 1  # the first index of a delta path: the root container


# ------------------------------------------------------------------------------------------- results

@dataclass
class RunResult:
    """What one action (open, widget change, click, navigation, rerun) led to.

    ``status``: ``"ok"`` (the run finished with no exception box), ``"exception"`` (an exception box
    was drawn), ``"compile_error"``, ``"page_not_found"`` (the server said so and ran the default
    page), ``"timeout"`` (no end of run within the time limit), ``"dropped"`` (the socket closed or
    failed), ``"error"`` (the client could not follow the protocol, e.g. a cache miss; see ``error``),
    ``"stopped"`` (``wait(until=...)`` returned early, on purpose) or ``"no_rerun"`` (the widget does
    not rerun by itself: ``on_change="ignore"`` or inside a form)."""
    action: str                      # "open", "widget", "click", "navigate", "rerun", "auto_rerun", "wait"
    target: str = ""                 # page path, or the widget's key/label
    status: str = "ok"
    elapsed_s: float = float("nan")  # seconds from the request (the HTTP GET for an open) to the end of the run
    connect_s: float = 0.0           # of which: HTTP requests and the websocket handshake (open only)
    finished: bool = False           # a script_finished of our run was received
    finish_status: str = ""          # "success", "fragment", "compile_error"
    exceptions: list[str] = field(default_factory=list)   # exception boxes: "Type: message"
    warnings: list[str] = field(default_factory=list)     # exception boxes marked as warnings (not failures)
    page_not_found: str | None = None
    messages: int = 0                # ForwardMsgs received
    bytes: int = 0                   # their payload bytes
    deltas: int = 0
    cache_refs: int = 0              # ref_hash messages resolved from the client's cache
    element_types: dict[str, int] = field(default_factory=dict)  # new elements drawn by this run, by type
    error: str = ""                  # why it failed, in one line

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "no_rerun", "stopped")

    def summary(self) -> str:
        s = (f"{self.action} {self.target}: {self.status} in {self.elapsed_s:.2f} s, "
             f"{self.messages} msgs, {self.bytes} B")
        return s + (f" ({self.error})" if self.error else "")


@dataclass
class Element:
    """One element or block of the page, where the last run drew it."""
    path: tuple[int, ...]
    type: str          # element type ("slider", "plotly_chart", ...) or "block:<kind>" ("block:expandable")
    proto: Any         # the element's own message (e.g. a Slider) or the Block
    fragment_id: str   # the fragment that drew it ("" outside fragments)
    script_hash: str   # active script of the delta: the main script (router) or the page's
    run: int           # client's run counter when it was drawn

    @property
    def in_sidebar(self) -> bool:
        return self.path[0] == SIDEBAR

    @property
    def is_block(self) -> bool:
        return self.type.startswith("block:")

    @property
    def key(self) -> str | None:
        """The user key of the element or container (``st.container(key=...)``), if it has one."""
        if self.is_block:
            return _user_key(self.proto.id) or _user_key(getattr(_block_kind_proto(self.proto), "id", ""))
        return _user_key(getattr(self.proto, "id", ""))


@dataclass
class Widget:
    """A widget on the page. ``value`` is what the next rerun sends (``None`` for a button)."""
    id: str
    key: str | None        # the user key (from the id), None if the widget has none
    label: str
    type: str              # slider, select_slider, selectbox, radio, segmented_control, pills, checkbox, toggle,
    #                        number_input, text_input, text_area, multiselect, color_picker, pagination, button,
    #                        download_button, expander, popover, tabs, plotly_chart, vega_lite_chart, ...
    value: Any
    default: Any
    options: list[str]
    fragment_id: str
    path: tuple[int, ...]
    query_param_key: str
    element: Element
    ancestors: list[Element]

    @property
    def in_sidebar(self) -> bool:
        return self.path[0] == SIDEBAR

    def inside(self, block_type: str | None = None, key_prefix: str | None = None) -> bool:
        """Whether a container around the widget is a ``block_type`` block ("expandable", "popover", "tab",
        "dialog"...) and/or has a user key starting with ``key_prefix``."""
        return any((block_type is None or a.type == f"block:{block_type}")
                   and (key_prefix is None or (a.key or "").startswith(key_prefix)) for a in self.ancestors)

    @property
    def folded(self) -> bool:
        """Inside a collapsed expander or a closed popover (a browser user would not see it)."""
        for a in self.ancestors:
            if a.type == "block:expandable" and not a.proto.expandable.expanded:
                return True
            if a.type == "block:popover" and not a.proto.popover.open:
                return True
        return False

    def __repr__(self) -> str:
        return f"Widget({self.type} key={self.key!r} label={self.label!r} value={self.value!r})"


# ------------------------------------------------------------------------------------------- helpers

def _user_key(element_id: str) -> str | None:
    """Streamlit's ``user_key_from_element_id``: ``$$ID-<hash>-<key>``, "None" meaning no key."""
    if not element_id or not element_id.startswith("$$ID"):
        return None
    key = element_id.split("-", 2)[-1]
    return None if key == "None" else key


def _block_kind_proto(block):
    kind = block.WhichOneof("type")
    return getattr(block, kind) if kind else block


def _js_number(x: float) -> str:
    """A number as JavaScript's ``String(x)`` writes it (100.0 -> "100", 1e-09 -> "1e-9")."""
    x = float(x)
    if math.isfinite(x) and x == int(x) and abs(x) < 1e21:
        return str(int(x))
    s = repr(x)
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{'-' if exp.startswith('-') else '+'}{exp.lstrip('+-').lstrip('0') or '0'}"
    return s


def _option_label(opt) -> str:
    """A ButtonGroup option as the frontend formats it: "<icon> <content>"."""
    return f"{opt.content_icon} {opt.content}".strip() if opt.content_icon else opt.content


def _cookie_header(cookie) -> dict[str, str]:
    if not cookie:
        return {}
    if isinstance(cookie, dict):
        return {str(k): str(v) for k, v in cookie.items()}
    out = {}
    for part in str(cookie).split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


# ------------------------------------------------------------------------------------------- widget codecs
# For each element type: (widget type name, current wire value from the proto, default wire value, WidgetState
# field, options). A wire value is what the frontend keeps: list[float] for a slider, str for a selectbox...

def _describe(el_type: str, p) -> tuple[str, Any, Any, str, list[str]] | None:
    def cur(value, default):
        return value if p.set_value else default

    if el_type == "slider":
        if p.options:  # select_slider: labels; default/value hold option indices
            opts = list(p.options)
            default = [opts[int(i)] for i in p.default if 0 <= int(i) < len(opts)]
            value = [opts[int(i)] for i in p.value if 0 <= int(i) < len(opts)] if p.set_value else default
            return "select_slider", value, default, "string_array_value", opts
        return "slider", cur(list(p.value), list(p.default)), list(p.default), "double_array_value", []
    if el_type in ("selectbox", "radio"):
        opts = list(p.options)
        default = opts[p.default] if p.HasField("default") and 0 <= p.default < len(opts) else None
        value = (p.raw_value if p.HasField("raw_value") else None) if p.set_value else default
        return el_type, value, default, "string_value", opts
    if el_type == "button_group":
        opts = [_option_label(o) for o in p.options]
        default = [opts[i] for i in p.default if 0 <= i < len(opts)]
        kind = "pills" if p.style == p.PILLS else "segmented_control"
        return kind, cur(list(p.raw_values), default), default, "string_array_value", opts
    if el_type == "checkbox":
        kind = "toggle" if p.type == p.TOGGLE else "checkbox"
        return kind, cur(p.value, p.default), p.default, "bool_value", []
    if el_type == "number_input":
        default = p.default if p.HasField("default") else None
        value = (p.value if p.HasField("value") else None) if p.set_value else default
        field_ = "int_value" if p.data_type == p.INT else "double_value"
        if field_ == "int_value":
            default = None if default is None else int(default)
            value = None if value is None else int(value)
        return "number_input", value, default, field_, []
    if el_type in ("text_input", "text_area"):
        default = p.default if p.HasField("default") else None
        value = (p.value if p.HasField("value") else None) if p.set_value else default
        return el_type, value, default, "string_value", []
    if el_type == "multiselect":
        opts = list(p.options)
        default = [opts[i] for i in p.default if 0 <= i < len(opts)]
        return "multiselect", cur(list(p.raw_values), default), default, "string_array_value", opts
    if el_type == "color_picker":
        return "color_picker", cur(p.value, p.default), p.default, "string_value", []
    if el_type == "pagination":
        return "pagination", cur(p.value, p.default), p.default, "int_value", []
    if el_type in ("button", "download_button"):
        return el_type, None, None, "trigger_value", []
    if el_type in ("plotly_chart", "vega_lite_chart") and getattr(p, "selection_mode", None):
        return el_type, None, None, "string_value", []  # a selection: only what set_widget gives it
    return None


def _describe_block(b) -> tuple[str, Any, Any, str, str] | None:
    """Blocks that are widgets (an id): expanders and popovers (open or not), tab containers (the tab)."""
    kind = b.WhichOneof("type")
    if kind == "expandable" and b.expandable.id:
        e = b.expandable
        return "expander", bool(e.expanded), bool(e.default_expanded), "bool_value", e.id
    if kind == "popover" and b.popover.id:
        return "popover", bool(b.popover.open), False, "bool_value", b.popover.id
    if kind == "tab_container" and b.tab_container.id:
        t = b.tab_container
        return "tabs", t.default_tab_label or None, t.default_tab_label or None, "string_value", t.id
    return None


def _to_wire(w: Widget, field_: str, value) -> Any:
    """A Python value given by the caller -> the wire value for ``w`` (raises ValueError)."""
    if field_ == "double_array_value":
        vals = list(value) if isinstance(value, (list, tuple)) else [value]
        try:
            vals = [float(v) for v in vals]
        except (TypeError, ValueError):
            raise ValueError(f"{w!r} takes numbers, not {value!r}") from None
        p = w.element.proto
        for v in vals:
            if not (p.min <= v <= p.max):
                raise ValueError(f"{w!r}: {v} is outside [{p.min}, {p.max}]")
        return vals
    if field_ == "string_array_value":
        vals = [value] if isinstance(value, str) else ([] if value is None else list(value))
        vals = [str(v) for v in vals]
        if w.options:
            bad = [v for v in vals if v not in w.options]
            if bad and not getattr(w.element.proto, "accept_new_options", False):
                raise ValueError(f"{w!r}: {bad} not among the options {w.options}")
        return vals
    if field_ == "string_value":
        if value is None:
            return None
        if w.type in ("plotly_chart", "vega_lite_chart") and not isinstance(value, str):
            value = json.dumps(value)
        value = str(value)
        if w.options and value not in w.options and not getattr(w.element.proto, "accept_new_options", False):
            raise ValueError(f"{w!r}: {value!r} is not among the options {w.options}")
        return value
    if field_ == "bool_value":
        if not isinstance(value, bool):
            raise ValueError(f"{w!r} takes True or False, not {value!r}")
        return value
    if field_ in ("int_value", "double_value"):
        if value is None:
            return None
        try:
            v = int(value) if field_ == "int_value" else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{w!r} takes a number, not {value!r}") from None
        p = w.element.proto
        if getattr(p, "has_min", False) and v < p.min or getattr(p, "has_max", False) and v > p.max:
            raise ValueError(f"{w!r}: {v} is outside [{p.min}, {p.max}]")
        return v
    raise ValueError(f"{w!r} ({w.type}) cannot be set by this client")


def _state(widget_id: str, field_: str, value) -> WidgetState | None:
    s = WidgetState(id=widget_id)
    if value is None and field_ != "trigger_value":
        return None  # an empty widget (no default): the frontend sends nothing for it
    if field_ == "trigger_value":
        s.trigger_value = True
    elif field_ == "double_array_value":
        s.double_array_value.data.extend(value)
    elif field_ == "string_array_value":
        s.string_array_value.data.extend(value)
    elif field_ == "int_array_value":
        s.int_array_value.data.extend(value)
    else:
        setattr(s, field_, value)
    return s


def _url_value(field_: str, value) -> list[str] | str | None:
    """The frontend's ``convertToUrlValue`` (a widget value as it goes into the URL)."""
    if value is None:
        return None
    if field_ == "bool_value":
        return "true" if value else "false"
    if field_ in ("int_value", "double_value"):
        return _js_number(value)
    if field_ == "double_array_value":
        return [_js_number(v) for v in value]
    if field_ == "string_array_value":
        return [v for v in value if v != ""]
    return str(value)


def _is_default_url(url_value, default_wire, field_: str) -> bool:
    """The frontend's ``shouldClearUrlParam``: a value equal to the default leaves the URL."""
    default = _url_value(field_, default_wire)
    if url_value in (None, "", []):
        return True
    if isinstance(url_value, list):
        if isinstance(default, list):
            return url_value == default
        return len(url_value) == 1 and url_value[0] == default
    return url_value == default


# ------------------------------------------------------------------------------------------- the client

class StreamlitClient:
    """One simulated browser tab on a Streamlit server.

    ``base_url``: ``http://HOST:PORT`` (with a base path if the server has one). ``timeout``: the default
    seconds one action may take. ``cookie``: extra cookies for every request, a ``"a=1; b=2"`` header or a
    dict (e.g. a balancer's sticky cookie taken from another client's ``cookies``); cookies the server or
    balancer sets on the HTTP GETs are kept too. ``headers``: extra HTTP headers for the GETs and the
    websocket handshake. ``cache``: mirror the frontend's ForwardMsg cache (see the module's doc).
    ``fetch_page``: GET the page's HTML on open, as a browser does (where a balancer sets its cookie).
    """

    def __init__(self, base_url: str, timeout: float = 60.0, cookie: str | dict | None = None,
                 headers: dict | None = None, cache: bool = True, fetch_page: bool = True):
        self.base_url = base_url.rstrip("/")
        parts = urllib.parse.urlsplit(self.base_url)
        self._base_path = parts.path.rstrip("/")
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws_url = f"{scheme}://{parts.netloc}{self._base_path}/_stcore/stream"
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.use_cache = cache
        self.fetch_page = fetch_page
        self._jar = http.cookiejar.CookieJar()
        self._extra_cookies = _cookie_header(cookie)
        self._ws: websocket.WebSocket | None = None
        self.session_id: str | None = None
        self._reset_page_state()

    # ---- state

    def _reset_page_state(self) -> None:
        self.path = ""                   # url path of the page shown ("" = the default page)
        self.query_string = ""           # the URL's query string, as the frontend would have it now
        self.page_script_hash = ""
        self.main_script_hash = ""
        self.pages: dict[str, str] = {}  # url path -> page_script_hash (from the navigation message)
        self.max_cache_age = 2
        self._elements: dict[tuple[int, ...], Element] = {}
        self._values: dict[str, Any] = {}      # widget id -> wire value the frontend holds
        self._fields: dict[str, str] = {}      # widget id -> WidgetState field
        self._widgets: dict[str, Widget] = {}
        self._cache: dict[str, list] = {}      # hash -> [raw bytes, run count when last used, fragment id]
        self._cache_runs = 0
        self._run = 0                          # counts runs started (new_session messages)
        self._run_id = ""                      # script_run_id of the latest run started
        self._started_since_send = False
        self._got_new_session = False
        self.auto_reruns: dict[str, float] = {}  # fragment id -> interval (s) the server asked for
        self.last_result: RunResult | None = None
        self._pending: RunResult | None = None  # the result of an action sent with wait=False
        self._sent_at: float | None = None
        self._run_fragments: list[str] = []

    @property
    def cookies(self) -> dict[str, str]:
        """Every cookie this client sends (given ones and those set by the server or a balancer)."""
        return {**{c.name: c.value for c in self._jar}, **self._extra_cookies}

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.connected

    @property
    def elements(self) -> list[Element]:
        """Elements and blocks on the page now, in delta-path order."""
        return [self._elements[p] for p in sorted(self._elements)]

    @property
    def widgets(self) -> list[Widget]:
        """Widgets on the page now, in page order (main area first, then the sidebar)."""
        return list(self._widgets.values())

    def texts(self, types=("markdown", "heading", "alert", "text", "code")) -> list[str]:
        """Texts on the page (markdown bodies, headings, alerts...), for assertions."""
        out = []
        for e in self.elements:
            if e.type in types:
                out.append(getattr(e.proto, "body", "") or getattr(e.proto, "code_text", "") or "")
        return out

    def find_all(self, key_or_label: str, kind: str | tuple[str, ...] | None = None) -> list[Widget]:
        """Every widget with this user key, else with this exact label, else with this id."""
        kinds = (kind,) if isinstance(kind, str) else kind
        ws = [w for w in self._widgets.values() if kinds is None or w.type in kinds]
        by_key = [w for w in ws if w.key == key_or_label]
        return by_key or [w for w in ws if w.label == key_or_label] or [w for w in ws if w.id == key_or_label]

    def widget(self, key_or_label: str, kind: str | tuple[str, ...] | None = None) -> Widget:
        """The widget with this user key, else this exact label, else this id (KeyError if none or several)."""
        found = self.find_all(key_or_label, kind)
        if not found:
            have = ", ".join(f"{w.type}:{w.key or w.label!r}" for w in self._widgets.values())
            raise KeyError(f"no widget {key_or_label!r}{f' of kind {kind}' if kind else ''} on page "
                           f"{self.path!r}; there are: {have}")
        if len(found) > 1:
            main = [w for w in found if not w.in_sidebar]
            if len(main) == 1:
                return main[0]
            raise KeyError(f"{len(found)} widgets match {key_or_label!r}: {found}; use a key")
        return found[0]

    # ---- actions

    def open(self, path: str = "", query: str = "", timeout: float | None = None) -> RunResult:
        """Load ``/<path>?<query>`` as a browser does: a new connection and session (any current one is
        closed), the page's first run, empty widget states. ``path`` may hold the query too:
        ``open("bayes?walkthrough=true")``."""
        path, _, q2 = path.lstrip("/").partition("?")
        query = (query or q2).lstrip("?")
        timeout = self.timeout if timeout is None else timeout
        res = RunResult("open", path + (f"?{query}" if query else ""))
        t0 = time.perf_counter()
        self.close()
        self._reset_page_state()
        self.session_id = None
        self.path, self.query_string = path, query
        try:
            self._connect(path, query, timeout)
        except Exception as e:  # noqa: BLE001 - a refused or failed connection is a result
            res.status, res.error = "dropped", f"connect: {type(e).__name__}: {e}"[:300]
            res.elapsed_s = time.perf_counter() - t0
            self.last_result = res
            return res
        res.connect_s = time.perf_counter() - t0
        self._send_rerun(widget_states=[], page_script_hash="", page_name=path)
        return self._wait(res, t0, t0 + timeout)

    def navigate(self, path: str, timeout: float | None = None) -> RunResult:
        """Open another page of the app from its sidebar link: same session, no reload (the frontend's
        ``onPageChange``). Only the router's widgets (the main script's) send their values; the URL keeps the
        parameters of widgets bound to it, as the frontend's ``filterParamsForPageChange`` does."""
        path = path.strip("/")
        if path not in self.pages:
            raise KeyError(f"no page {path!r} in the app's navigation: {sorted(self.pages)}")
        self._require_connection()
        bound = {w.query_param_key for w in self._widgets.values() if w.query_param_key}
        kept = [(k, v) for k, v in urllib.parse.parse_qsl(self.query_string, keep_blank_values=True) if k in bound]
        self.query_string = urllib.parse.urlencode(kept)
        states = [s for w in self._widgets.values() if w.element.script_hash == self.main_script_hash
                  for s in [_state(w.id, self._fields[w.id], self._values.get(w.id))] if s is not None
                  and self._fields[w.id] != "trigger_value"]
        res = RunResult("navigate", path)
        t0 = time.perf_counter()
        self.path = path
        self.auto_reruns.clear()  # the frontend's onPageChange drops the old page's run_every timers
        self._send_rerun(widget_states=states, page_script_hash=self.pages[path], page_name="")
        return self._wait(res, t0, t0 + (self.timeout if timeout is None else timeout))

    def set_widget(self, key_or_label: str, value, timeout: float | None = None, wait: bool = True) -> RunResult:
        """Give a widget a value as a user would, and rerun (the fragment only, for a widget inside one).

        Values: a number (or a tuple for a range) for a slider; the option's label for a selectbox, radio
        or segmented control (a list for multiselect/pills); True/False for a checkbox, toggle or
        expander; a number for number_input; text for text_input. ``wait=False`` returns as soon as the
        rerun is sent (then call :meth:`wait`)."""
        w = self.widget(key_or_label)
        field_ = self._fields[w.id]
        if field_ == "trigger_value":
            raise ValueError(f"{w!r} is a button: use click()")
        wire = _to_wire(w, field_, value)
        self._values[w.id] = wire
        w.value = self._present(w, wire)
        if w.query_param_key:
            self._sync_url(w, field_, wire)
        res = RunResult("widget", w.key or w.label)
        if getattr(w.element.proto, "ignore_rerun", False) or getattr(w.element.proto, "form_id", ""):
            res.status, res.elapsed_s = "no_rerun", 0.0
            return res
        return self._rerun_with(res, trigger=None, fragment_id=w.fragment_id, timeout=timeout, wait=wait)

    def click(self, label_or_key: str, timeout: float | None = None, wait: bool = True) -> RunResult:
        """Click a button (by its label, e.g. "Train", or its key): a rerun with every widget's value and the
        button's one-shot trigger. ``wait=False`` returns once the click is sent (then :meth:`wait`)."""
        w = self.widget(label_or_key, ("button", "download_button"))
        res = RunResult("click", w.label or w.key or w.id)
        return self._rerun_with(res, trigger=w, fragment_id=w.fragment_id, timeout=timeout, wait=wait)

    def rerun(self, timeout: float | None = None) -> RunResult:
        """A plain rerun with the current widget values (the "Rerun" menu item, or the R key)."""
        return self._rerun_with(RunResult("rerun", self.path), None, "", timeout, True)

    def auto_rerun(self, fragment_id: str | None = None, timeout: float | None = None) -> RunResult:
        """The rerun the frontend sends on its own for an ``st.fragment(run_every=...)`` (one tick).
        ``fragment_id`` defaults to the only fragment the server asked to rerun (``auto_reruns``)."""
        if fragment_id is None:
            if len(self.auto_reruns) != 1:
                raise KeyError(f"say which fragment: the server asked for {sorted(self.auto_reruns)}")
            fragment_id = next(iter(self.auto_reruns))
        return self._rerun_with(RunResult("auto_rerun", fragment_id), None, fragment_id, timeout, True, auto=True)

    def stop(self) -> None:
        """Ask the server to stop the running script (the frontend's Stop)."""
        self._require_connection()
        m = BackMsg()
        m.stop_script = True
        self._ws.send_binary(m.SerializeToString())

    def wait(self, timeout: float | None = None, until: Callable[[ForwardMsg], bool] | None = None) -> RunResult:
        """Read until the run in progress finishes (after ``wait=False``), or until ``until(msg)`` is true for a
        received ForwardMsg (status "stopped"): e.g. until a progress bar shows, to close the socket mid-run.
        Elapsed time counts from when the pending action was sent."""
        self._require_connection()
        res = self._pending or RunResult("wait", self.path)
        t0 = self._sent_at or time.perf_counter()
        return self._wait(res, t0, time.perf_counter() + (self.timeout if timeout is None else timeout), until)

    def idle(self, seconds: float) -> int:
        """Stay connected for ``seconds`` doing nothing, reading (and answering pings, processing
        messages) meanwhile. Returns the number of messages received."""
        if not self.connected:
            time.sleep(seconds)
            return 0
        end = time.perf_counter() + seconds
        n = 0
        res = RunResult("idle")
        while (left := end - time.perf_counter()) > 0:
            self._ws.settimeout(left)
            try:
                data = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                break
            except (websocket.WebSocketException, OSError):
                break
            if not isinstance(data, bytes):  # a close frame
                self.close(abrupt=True)
                break
            n += 1
            self._handle(data, res)
        return n

    def reconnect(self, rerun: bool = True, timeout: float | None = None) -> RunResult | None:
        """A new socket to the same session (its id in the third subprotocol slot), as the frontend does after
        a lost connection, then (``rerun``) a rerun with the current widget values."""
        timeout = self.timeout if timeout is None else timeout
        self.close()
        t0 = time.perf_counter()
        self._cache.clear()
        try:
            self._connect(self.path, self.query_string, timeout, http=False)
        except Exception as e:  # noqa: BLE001
            return RunResult("reconnect", self.path, status="dropped", error=f"{type(e).__name__}: {e}"[:300],
                             elapsed_s=time.perf_counter() - t0)
        if not rerun:
            return None
        return self._rerun_with(RunResult("reconnect", self.path), None, "", timeout, True, t0=t0)

    def close(self, abrupt: bool = False) -> None:
        """Close the socket: with a close frame (a closed tab), or ``abrupt`` (a lost network: TCP only)."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        try:
            if abrupt and ws.sock is not None:
                ws.sock.shutdown(socket.SHUT_RDWR)
                ws.sock.close()
            else:
                ws.close(timeout=2)
        except Exception:  # noqa: BLE001 - closing a broken socket
            pass

    def __enter__(self) -> StreamlitClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- connection

    def _http_get(self, url: str, timeout: float) -> None:
        req = urllib.request.Request(url, headers={**self.headers, "User-Agent": "genlab-stclient"})
        if self._extra_cookies:
            req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self._extra_cookies.items()))
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._jar))
        with opener.open(req, timeout=timeout) as r:
            r.read()

    def _connect(self, path: str, query: str, timeout: float, http: bool = True) -> None:
        if http:
            if self.fetch_page:
                self._http_get(f"{self.base_url}/{path}" + (f"?{query}" if query else ""), timeout)
            self._http_get(f"{self.base_url}/_stcore/health", timeout)
        cookies = self.cookies
        protocols = ["streamlit", cookies.get("_streamlit_xsrf") or "PLACEHOLDER_AUTH_TOKEN"]
        if self.session_id:
            protocols.append(self.session_id)
        ws = websocket.WebSocket(enable_multithread=False)
        ws.connect(self.ws_url, subprotocols=protocols, timeout=timeout,
                   cookie="; ".join(f"{k}={v}" for k, v in cookies.items()) or None,
                   header=[f"{k}: {v}" for k, v in self.headers.items()] or None)
        self._ws = ws

    def _require_connection(self) -> None:
        if not self.connected:
            raise ConnectionError("not connected: open() a page first (or reconnect())")

    def page_url(self) -> str:
        return f"{self.base_url}/{self.path}" + (f"?{self.query_string}" if self.query_string else "")

    # ---- sending

    def _send_rerun(self, widget_states, page_script_hash: str, page_name: str, fragment_id: str = "",
                    is_auto_rerun: bool = False) -> None:
        m = BackMsg()
        cs = m.rerun_script
        cs.query_string = self.query_string
        cs.widget_states.widgets.extend(widget_states)
        cs.page_script_hash = page_script_hash
        cs.page_name = page_name
        if fragment_id:
            cs.fragment_id = fragment_id
        cs.is_auto_rerun = is_auto_rerun
        if self.use_cache:
            cs.cached_message_hashes.extend(self._cache)
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url, ci.is_embedded, ci.color_scheme = self.page_url(), False, "light"
        self._started_since_send = False
        self._got_new_session = False
        self._sent_at = time.perf_counter()
        self._ws.send_binary(m.SerializeToString())

    def _rerun_with(self, res: RunResult, trigger: Widget | None, fragment_id: str, timeout, wait: bool,
                    auto: bool = False, t0: float | None = None) -> RunResult:
        timeout = self.timeout if timeout is None else timeout
        t0 = time.perf_counter() if t0 is None else t0
        if not self.connected:
            res.status, res.error, res.elapsed_s = "dropped", "not connected", 0.0
            self.last_result = res
            return res
        states = []
        for w in self._widgets.values():
            f = self._fields[w.id]
            if f == "trigger_value":
                continue
            s = _state(w.id, f, self._values.get(w.id))
            if s is not None:
                states.append(s)
        if trigger is not None:
            states.append(_state(trigger.id, "trigger_value", True))
        try:
            self._send_rerun(states, self.page_script_hash, "", fragment_id, auto)
        except (websocket.WebSocketException, OSError) as e:
            res.status, res.error, res.elapsed_s = "dropped", f"send: {type(e).__name__}: {e}"[:300], 0.0
            self.last_result = res
            return res
        if not wait:
            self.last_result = self._pending = res
            return res
        return self._wait(res, t0, t0 + timeout)

    def _sync_url(self, w: Widget, field_: str, wire) -> None:
        """The frontend's ``maybeSyncValueToUrl`` for a user change of a URL-bound widget."""
        url_value = _url_value(field_, wire)
        params: dict[str, list[str]] = {}
        for k, v in urllib.parse.parse_qsl(self.query_string, keep_blank_values=True):
            params.setdefault(k, []).append(v)
        if _is_default_url(url_value, w.default, field_):
            params.pop(w.query_param_key, None)
        else:
            params[w.query_param_key] = url_value if isinstance(url_value, list) else [url_value]
        self.query_string = urllib.parse.urlencode([(k, v) for k in sorted(params) for v in params[k]])

    # ---- receiving

    def _wait(self, res: RunResult, t0: float, deadline: float,
              until: Callable[[ForwardMsg], bool] | None = None) -> RunResult:
        res.status = "ok"
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                res.status, res.error = "timeout", f"no end of run within {deadline - t0:.0f} s"
                break
            try:
                self._ws.settimeout(left)
                data = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                res.status, res.error = "timeout", f"no end of run within {deadline - t0:.0f} s"
                break
            except (websocket.WebSocketException, OSError, AttributeError) as e:
                res.status, res.error = "dropped", f"{type(e).__name__}: {e}"[:300]
                self.close(abrupt=True)
                break
            if not isinstance(data, bytes):
                if data == "" or not self._ws.connected:  # websocket-client's answer to a close frame
                    res.status, res.error = "dropped", "the server closed the socket"
                    self.close(abrupt=True)
                else:
                    res.status, res.error = "error", "a text frame: Streamlit sends binary protobufs only"
                break
            msg = self._handle(data, res)
            if res.status == "error":
                break
            if until is not None and msg is not None and until(msg):
                res.status = "stopped"
                break
            if res.finished:
                break
        res.elapsed_s = time.perf_counter() - t0
        self._pending = None if res.finished or res.status not in ("ok", "stopped") else res
        if res.finished:
            if res.exceptions:
                res.status = "exception"
                res.error = res.error or "exception shown: " + res.exceptions[0][:200]
            elif res.finish_status == "compile_error":
                res.status = "compile_error"
                res.error = res.error or "the script did not compile"
            elif res.page_not_found is not None:
                res.status = "page_not_found"
                res.error = f"page not found: {res.page_not_found or res.target!r} (the server ran its default page)"
        self.last_result = res
        return res

    def _handle(self, data: bytes, res: RunResult) -> ForwardMsg | None:
        res.messages += 1
        res.bytes += len(data)
        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self._cache.get(msg.ref_hash)
            if cached is None:
                res.status, res.error = "error", f"cache miss for ref_hash {msg.ref_hash}"
                return None
            cached[1] = self._cache_runs
            res.cache_refs += 1
            meta = msg.metadata
            msg = ForwardMsg()
            msg.ParseFromString(cached[0])
            msg.metadata.CopyFrom(meta)
            kind = msg.WhichOneof("type")
        elif self.use_cache and msg.metadata.cacheable and msg.hash:
            entry = self._cache.get(msg.hash)
            if entry is None:
                self._cache[msg.hash] = [data, self._cache_runs, msg.delta.fragment_id if kind == "delta" else ""]
            else:
                entry[1] = self._cache_runs

        if kind == "new_session":
            ns = msg.new_session
            self._run += 1
            self._run_id = msg.metadata.run.script_run_id
            self._started_since_send = True
            self._got_new_session = True
            self.session_id = ns.initialize.session_id or self.session_id
            self.page_script_hash = ns.page_script_hash or self.page_script_hash
            self.main_script_hash = ns.main_script_hash or self.main_script_hash
            self.max_cache_age = ns.config.max_cached_message_age or self.max_cache_age
            self._run_fragments = list(msg.metadata.run.fragment_ids)
            if not self._run_fragments:  # a full run: the frontend drops every run_every timer (cleanupAutoReruns)
                self.auto_reruns.clear()  # and the run registers those still drawn
        elif kind == "delta":
            res.deltas += 1
            self._on_delta(msg, res)
        elif kind == "navigation":
            nav = msg.navigation
            self.pages = {p.url_pathname: p.page_script_hash for p in nav.app_pages}
            if nav.page_script_hash:
                self.page_script_hash = nav.page_script_hash
                self.path = next((u for u, h in self.pages.items() if h == nav.page_script_hash), self.path)
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "page_not_found":
            res.page_not_found = msg.page_not_found.page_name
        elif kind == "auto_rerun":
            self.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            self.auto_reruns.pop(getattr(msg.stop_auto_rerun, "fragment_id", ""), None)
        elif kind == "session_event":
            ev = msg.session_event
            if ev.WhichOneof("type") == "script_compilation_exception":
                e = ev.script_compilation_exception
                res.exceptions.append(f"{e.type}: {e.message}"[:500])
        elif kind == "script_finished":
            run_id = msg.metadata.run.script_run_id
            ours = self._started_since_send and (not run_id or run_id == self._run_id)
            status = msg.script_finished
            if ours and status != FINISHED_EARLY:
                self._end_run(status, list(msg.metadata.run.fragment_ids))
                res.finished = True
                res.finish_status = {FINISHED_OK: "success", FINISHED_FRAGMENT: "fragment",
                                     FINISHED_COMPILE_ERROR: "compile_error"}.get(status, str(status))
        return msg

    def _on_delta(self, msg: ForwardMsg, res: RunResult) -> None:
        d = msg.delta
        path = tuple(msg.metadata.delta_path)
        dtype = d.WhichOneof("type")
        if dtype == "new_element":
            el_type = d.new_element.WhichOneof("type") or "?"
            proto = getattr(d.new_element, el_type) if el_type != "?" else d.new_element
            kind = el_type
            if el_type == "exception":
                text = f"{proto.type}: {proto.message}"[:500]
                (res.warnings if proto.is_warning else res.exceptions).append(text)
        elif dtype == "add_block":
            proto = d.add_block
            kind = "block:" + (proto.WhichOneof("type") or "vertical")
        else:  # new_transient (toasts, spinners): not part of the page tree
            res.element_types[dtype] = res.element_types.get(dtype, 0) + 1
            return
        res.element_types[kind] = res.element_types.get(kind, 0) + 1
        if not path:
            return
        for p in [p for p in self._elements if p[:len(path)] == path]:
            del self._elements[p]  # the element there and, for a block, everything inside it
        self._elements[path] = Element(path, kind, proto, d.fragment_id, msg.metadata.active_script_hash, self._run)

    def _end_run(self, status: int, fragment_ids: list[str]) -> None:
        """At the end of a run: drop what it did not redraw, rebuild the widget list, age the cache."""
        if status == FINISHED_OK:
            self._elements = {p: e for p, e in self._elements.items() if e.run == self._run}
        elif status == FINISHED_FRAGMENT and fragment_ids:
            self._elements = {p: e for p, e in self._elements.items()
                              if e.run == self._run or e.fragment_id not in fragment_ids}
        self._rebuild_widgets()
        if self._got_new_session:  # the frontend's incrementMessageCacheRunCount
            self._cache_runs += 1
            for h, (_, used, frag) in list(self._cache.items()):
                if fragment_ids and (not frag or frag not in fragment_ids):
                    continue
                if self._cache_runs - used > self.max_cache_age:
                    del self._cache[h]

    def _rebuild_widgets(self) -> None:
        widgets: dict[str, Widget] = {}
        for path in sorted(self._elements):
            e = self._elements[path]
            if e.is_block:
                desc = _describe_block(e.proto)
                if desc is None:
                    continue
                wtype, value, default, field_, wid = desc
                label = getattr(_block_kind_proto(e.proto), "label", "")
                options: list[str] = []
            else:
                desc = _describe(e.type, e.proto)
                wid = getattr(e.proto, "id", "")
                if desc is None or not wid:
                    continue
                wtype, value, default, field_, options = desc
                label = getattr(e.proto, "label", "")
            # the frontend keeps its own value for a widget it already shows, unless the server set one
            # (a chart's selection is only what set_widget gave it)
            if e.type in ("plotly_chart", "vega_lite_chart"):
                self._values.setdefault(wid, None)
            elif e.is_block or getattr(e.proto, "set_value", False) or wid not in self._values:
                self._values[wid] = value
            self._fields[wid] = field_
            ancestors = [self._elements[path[:k]] for k in range(2, len(path)) if path[:k] in self._elements]
            w = Widget(wid, _user_key(wid), label, wtype, None, default, options, e.fragment_id, path,
                       getattr(_block_kind_proto(e.proto) if e.is_block else e.proto, "query_param_key", ""),
                       e, ancestors)
            w.value = self._present(w, self._values.get(wid))
            widgets[wid] = w
        for gone in set(self._values) - set(widgets):  # the frontend's removeInactiveWidgetState
            self._values.pop(gone, None)
            self._fields.pop(gone, None)
        self._widgets = widgets

    @staticmethod
    def _present(w: Widget, wire):
        """A wire value as the caller thinks of it (a slider's one value, a single-select's label)."""
        if wire is None:
            return None
        if w.type == "slider":
            vals = [int(v) if w.element.proto.data_type == w.element.proto.INT else v for v in wire]
            return vals[0] if len(vals) == 1 else tuple(vals)
        if w.type == "select_slider":
            return wire[0] if len(wire) == 1 else tuple(wire)
        if w.type in ("segmented_control", "pills") and w.element.proto.click_mode == w.element.proto.SINGLE_SELECT:
            return wire[0] if wire else None
        return wire


def drawn(element_type: str) -> Callable[[ForwardMsg], bool]:
    """A ``wait(until=...)`` predicate: true for a delta that draws an element of this type ("progress",
    "plotly_chart", "exception"...) or a block of this kind ("expandable", "popover"...)::

        c.click("Train", wait=False)
        c.wait(until=drawn("progress"))   # training has started (a progress bar is drawn)
        c.close()                         # the tab is closed mid-training
    """
    def until(msg: ForwardMsg) -> bool:
        if msg.WhichOneof("type") != "delta":
            return False
        d = msg.delta
        if d.WhichOneof("type") == "new_element":
            return d.new_element.WhichOneof("type") == element_type
        return d.WhichOneof("type") == "add_block" and d.add_block.WhichOneof("type") == element_type

    return until


def open_page(base_url: str, path: str = "", query: str = "", **kw) -> tuple[StreamlitClient, RunResult]:
    """A new client that has opened ``/<path>?<query>``: ``c, r = open_page(base, "bayes")``."""
    c = StreamlitClient(base_url, **kw)
    return c, c.open(path, query)
