"""The websocket protocol client (tests/stclient.py) against a real GenLab server, and its handling of
exceptions, time-outs, dropped sockets and the message cache on scripted messages. About 20 s."""
import time

import pytest
import websocket
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tests import browser
from tests.stclient import RunResult, StreamlitClient, drawn


@pytest.fixture(scope="module")
def server():
    with browser.streamlit_server(timeout=90) as (base, _):
        yield base


def test_open_home_and_bayes(server):
    with StreamlitClient(server, timeout=90, cookie="GENLAB_TEST=1") as c:
        r = c.open("")
        assert r.ok and r.finished and r.status == "ok", r.summary()
        assert not r.exceptions and r.messages > 0 and r.bytes > 0
        assert c.widget("Walkthrough").in_sidebar and c.widget("walkthrough").value is False
        assert "GenLab" in c.texts()
        assert c.cookies["GENLAB_TEST"] == "1" and "_streamlit_xsrf" in c.cookies  # given + set by the server
        first_session = c.session_id

        r = c.open("bayes")
        assert r.status == "ok", r.summary()
        assert c.session_id != first_session  # a page load is a new session, as in a browser
        assert c.path == "bayes" and c.pages["bayes"] == c.page_script_hash
        n = c.widget("Points per class")
        assert (n.key, n.type, n.value, n.query_param_key) == ("n", "slider", 100, "n")
        assert {"data", "sep", "corr", "seed", "view"} <= {w.key for w in c.widgets}
        assert r.element_types.get("plotly_chart") == 2


def test_slider_rerun_and_message_cache(server):
    with StreamlitClient(server, timeout=60) as c:
        assert c.open("bayes").ok
        r = c.set_widget("n", 150)
        assert r.status == "ok" and r.finish_status == "success", r.summary()
        assert c.widget("n").value == 150 and "n=150" in c.query_string  # the frontend's URL sync
        r = c.set_widget("Points per class", 100)  # back: the figures of n = 100 are in the client's cache
        assert r.status == "ok", r.summary()
        assert r.cache_refs >= 2 and "n=" not in c.query_string

    with StreamlitClient(server, timeout=60, cache=False) as c:  # no cache advertised: every message in full
        assert c.open("bayes").ok and c.set_widget("n", 150).ok
        assert c.set_widget("n", 100).cache_refs == 0


def test_fragment_and_navigation(server):
    with StreamlitClient(server, timeout=60) as c:
        assert c.open("bayes").ok
        r = c.set_widget("walkthrough", True)  # the router's sidebar toggle
        assert r.ok and c.widget("step").value.startswith("1.")
        r = c.click("Next")
        assert r.ok and c.widget("step").value.startswith("2."), r.summary()
        r = c.navigate("")
        assert r.ok and c.path == "" and "GenLab" in c.texts(), r.summary()
        assert c.widget("walkthrough").value is True


def test_unknown_page_is_a_clear_result(server):
    with StreamlitClient(server, timeout=30) as c:
        t0 = time.perf_counter()
        r = c.open("no_such_page", "x=1")
        assert r.status == "page_not_found" and not r.ok and "no_such_page" in r.error
        assert r.finished and time.perf_counter() - t0 < 30
        with pytest.raises(KeyError):
            c.navigate("no_such_page")
        with pytest.raises(KeyError):
            c.set_widget("no such widget", 1)


def test_refused_connection_is_a_dropped_result():
    r = StreamlitClient(f"http://127.0.0.1:{browser.free_port()}", timeout=5).open("bayes")
    assert r.status == "dropped" and "connect" in r.error


# ---- scripted message streams (no server): exception boxes, time-outs, dropped sockets, cache misses

class FakeSocket:
    """Stands in for websocket.WebSocket: recv() hands out the given frames, or raises what it is given."""

    connected = True

    def __init__(self, frames):
        self.frames = list(frames)
        self.sent = []

    def settimeout(self, t):
        pass

    def recv(self):
        item = self.frames.pop(0) if self.frames else websocket.WebSocketTimeoutException("timed out")
        if isinstance(item, Exception):
            raise item
        return item

    def send_binary(self, data):
        self.sent.append(data)

    def close(self, **kw):
        self.connected = False


def _msg(**build) -> bytes:
    m = ForwardMsg()
    for what, value in build.items():
        if what == "new_session":
            m.new_session.initialize.session_id = "s1"
            m.metadata.run.script_run_id = value
        elif what == "exception":
            m.delta.new_element.exception.type, m.delta.new_element.exception.message = value
            m.metadata.delta_path[:] = [0, 0]
        elif what == "markdown":
            m.delta.new_element.markdown.body = value
            m.metadata.delta_path[:] = [0, 1]
            m.metadata.cacheable = True
            m.hash = "h1"
        elif what == "ref":
            m.ref_hash = value
            m.metadata.delta_path[:] = [0, 1]
        elif what == "finished":
            m.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
            m.metadata.run.script_run_id = value
    return m.SerializeToString()


def _run(frames, timeout=5.0, client=None) -> RunResult:
    c = client or StreamlitClient("http://127.0.0.1:1")
    c._ws = FakeSocket(frames)
    return c._rerun_with(RunResult("rerun"), None, "", timeout, True)


def test_exception_box_is_a_failure():
    r = _run([_msg(new_session="r1"), _msg(exception=("ValueError", "boom")), _msg(finished="r1")])
    assert r.status == "exception" and not r.ok and r.exceptions == ["ValueError: boom"] and r.finished


def test_only_the_run_we_started_ends_the_wait():
    # the end of an older run (after a time-out, say) must not end the wait for ours
    r = _run([_msg(finished="old"), _msg(new_session="r2"), _msg(finished="old"), _msg(markdown="x"),
              _msg(finished="r2")])
    assert r.status == "ok" and r.messages == 5 and r.deltas == 1


def test_timeout_and_dropped_socket():
    assert _run([_msg(new_session="r1")], timeout=0.2).status == "timeout"
    r = _run([_msg(new_session="r1"), websocket.WebSocketConnectionClosedException("gone")])
    assert r.status == "dropped" and "gone" in r.error
    r = _run([_msg(new_session="r1"), ""])  # what websocket-client returns for the server's close frame
    assert r.status == "dropped" and "closed" in r.error


def test_cache_refs_resolve_and_a_miss_is_an_error():
    c = StreamlitClient("http://127.0.0.1:1")
    assert _run([_msg(new_session="r1"), _msg(markdown="cached text"), _msg(finished="r1")], client=c).ok
    r = _run([_msg(new_session="r2"), _msg(ref="h1"), _msg(finished="r2")], client=c)
    sent = BackMsg.FromString(c._ws.sent[-1])
    assert list(sent.rerun_script.cached_message_hashes) == ["h1"]  # the rerun advertised the cached message
    assert r.ok and r.cache_refs == 1 and c.texts() == ["cached text"]
    r = _run([_msg(new_session="r3"), _msg(ref="unknown"), _msg(finished="r3")])
    assert r.status == "error" and "cache miss" in r.error


def test_reconnect_keeps_the_session(server):
    with StreamlitClient(server, timeout=60) as c:
        assert c.open("bayes").ok and c.set_widget("n", 150).ok
        session = c.session_id
        r = c.reconnect()  # a new socket naming the session, as the frontend does after a lost connection
        assert r.ok and c.session_id == session and c.widget("n").value == 150, r.summary()


def test_sticky_cookie_through_the_balancer():
    """Sessions live in one replica: a reconnect keeps its session only if the balancer's cookie (set on the
    page's GET, or given) travels with the websocket handshake to the same replica."""
    cluster = pytest.importorskip("deploy.cluster")
    if cluster.haproxy_path() is None:
        pytest.skip("haproxy is not installed")
    with cluster.cluster(replicas=2) as lb:
        for name in reversed(lb.names):  # pinned by a given cookie (the second replica first: not the default)
            with StreamlitClient(lb.url, timeout=90, cookie={cluster.COOKIE: name}) as c:
                assert c.open("").ok
                session = c.session_id
                assert c.reconnect().ok and c.session_id == session
        with StreamlitClient(lb.url, timeout=90) as c:  # pinned by the cookie HAProxy sets on the page's GET
            assert c.open("").ok and c.cookies.get(cluster.COOKIE) in lb.names
            session = c.session_id
            assert c.reconnect().ok and c.session_id == session


def test_wait_until_an_element_then_to_the_end():
    c = StreamlitClient("http://127.0.0.1:1")
    c._ws = FakeSocket([_msg(new_session="r1"), _msg(markdown="step 1"), _msg(exception=("E", "late")),
                        _msg(finished="r1")])
    assert c._rerun_with(RunResult("click"), None, "", 5.0, wait=False).status == "ok"  # sent, not waited for
    r = c.wait(until=drawn("markdown"))
    assert r.status == "stopped" and r.ok and r.messages == 2
    r = c.wait()  # the rest of the same run
    assert r.action == "click" and r.finished and r.status == "exception" and r.messages == 4
