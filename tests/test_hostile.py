"""Hostile input on every page: nonsense, oversized and non-finite link parameters, bogus ``hide``
lists, a corrupted checkpoint, bad uploads, and no user input ever rendered as HTML or unpickled.

Every page in ``core.app_pages.PAGES`` is walked (parametrized from the list, so pages added later are
covered without editing this file). A page's link parameters are found by opening it once and listing
its keyed input widgets; each hostile link is then opened as a fresh session (the caches are warm by
then, so those runs are cheap). Every run must end with no exception, no error box and the router's
notice about the parameters it could not use; afterwards a plain session still opens cleanly.
"""
from __future__ import annotations

import ast
import tomllib

import numpy as np
import pytest
import streamlit as st

from core import checkpoints
from core import data as gdata
from core.app_pages import PAGES
from core.text import unescape_md
from tests.pagetest import ROOT, assert_ok, notices, open_page

KINDS = ("selectbox", "slider", "number_input", "radio", "toggle", "text_input")
MARKER = "<img src=x onerror=alert(1)>"
# none of these is a valid value for a selectbox, radio, slider, number input or toggle of any page
NONSENSE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e308", "-1e308", "not-a-value", MARKER, "\U0001f4a5",
            "0x10", "[]", "true false", " "]
NEGATIVE = ["-1", "-0.5", "-2147483649", "-1e-9", "-999999999999999999999", "-0"]
BIG = 10_000


def _keys(at) -> dict[str, str]:
    """Keyed input widgets of a run (their keys are the page's link parameters): key -> kind."""
    return {w.key: kind for kind in KINDS for w in getattr(at, kind) if w.key}


def _named(text: str, key: str) -> bool:
    return f"`{key}=" in text or f"`{key}`" in text  # a malformed value, or an unknown parameter


def _no_user_html(at) -> None:
    """Nothing the user typed reaches an element that renders raw HTML."""
    for m in at.markdown:
        assert not (m.proto.allow_html and ("onerror" in m.value or MARKER in m.value)), m.value[:200]
    for h in at.get("html"):
        body = getattr(h.proto, "body", "")
        assert "onerror" not in body and MARKER not in body, body[:200]


def _crash(at) -> str:
    """The exception's type and the last lines of its traceback (the page shows only a redacted message)."""
    e = at.exception[0].proto
    return f"{e.type}: " + " | ".join(line.strip() for line in list(e.stack_trace)[-3:])


def _check(at, what: str) -> str:
    assert not at.exception, f"{what}: {_crash(at)}"
    assert_ok(at)
    _no_user_html(at)
    text = notices(at)
    assert text, f"{what}: no notice about the link"
    return text


@pytest.mark.parametrize("page", [p.path for p in PAGES], ids=[p.url_path for p in PAGES])
def test_hostile_links_give_a_notice_never_a_crash(page, one_torch_thread):
    at = open_page(page)
    assert_ok(at)
    assert not notices(at), notices(at)
    keys = _keys(at)
    assert "walkthrough" in keys and len(keys) >= 3, keys
    text_keys = [k for k, kind in keys.items() if kind == "text_input"]
    other = [k for k in keys if k not in text_keys]

    # 1. nonsense for every parameter (empty text for text inputs), an unknown parameter, a bogus hide list
    q = {k: NONSENSE[i % len(NONSENSE)] for i, k in enumerate(other)} | {k: "" for k in text_keys}
    q |= {"zz_unknown": "1", "hide": f"no_such_control,{MARKER}"}
    text = _check(open_page(page, q), "nonsense")
    missing = [k for k in other if not _named(text, k)]
    assert not missing, f"nonsense values not reported for {missing}"
    assert "`zz_unknown`" in text and "no_such_control" in text

    # 2. oversized: 10,000-character values everywhere, an oversized hide list, a long unknown name
    q = {k: ("A" if i % 2 else "9") * BIG for i, k in enumerate(other)} | {k: "x" * BIG for k in text_keys}
    q |= {"u" * 300: "1", "hide": "h" * BIG}
    text = _check(open_page(page, q), "oversized")
    missing = [k for k in keys if not _named(text, k)]
    assert not missing, f"oversized values not reported for {missing}"

    # 3. negative numbers, the walkthrough on at a bogus step, every control hidden plus a bogus one,
    #    and long but allowed text (an enormous prompt) that carries an HTML payload
    q = {k: NEGATIVE[i % len(NEGATIVE)] for i, k in enumerate(other)}
    q |= {k: MARKER + " a red circle" * 150 for k in text_keys}
    q |= {"walkthrough": "true", "step": "-3", "hide": ",".join([*keys, "bogus_control"])}
    text = _check(open_page(page, q), "negative")
    assert "`step=-3`" in text and "bogus_control" in text

    # the server keeps serving: a plain session afterwards is clean
    at = open_page(page)
    assert_ok(at)
    assert not notices(at), notices(at)


# ---------------------------------------------------------------------------------- the notice itself

BAYES = PAGES[0].path


@pytest.mark.parametrize("value", ["inf", "-Infinity", "9" * 400])
def test_an_infinite_integer_in_a_link_is_a_notice_not_a_crash(value):
    # Streamlit 1.67's URL binding turns the value into int(float(value)) and only catches ValueError, so
    # int(inf) escapes as OverflowError from every page's seed box unless core/ui/url.py drops such a value first
    at = open_page(BAYES, {"seed": value})
    assert not at.exception, _crash(at)
    assert_ok(at)
    assert "`seed=" in notices(at)
    assert at.number_input(key="seed").value == 0


def test_the_notice_does_not_echo_an_oversized_value_in_full():
    text = notices(open_page(BAYES, {"data": "A" * BIG}))
    assert "`data=" in text and len(text) < 2000, len(text)


def test_the_notice_does_not_render_a_value_as_markdown():
    value = "x` [Your session expired: log in again](https://evil.example/login) ![](https://evil.example/p.png) `"
    text = notices(open_page(BAYES, {"data": value}))
    assert "`data=" in text
    assert value not in text, "the raw value went into the notice's markdown unescaped"


# ---------------------------------------------------------------------------------- corrupted checkpoints

@pytest.fixture
def corrupted_checkpoints(tmp_path, monkeypatch):
    """A copy of checkpoints/ (links) in which ``vae_mnist_z2_beta1`` has truncated weights and ``flow_moons``
    an unreadable JSON record; the pages find it through ``checkpoints.shipped`` (the only way they locate
    shipped checkpoints; core has no setting for another folder, so the test redirects that function)."""
    for p in checkpoints.SHIPPED_DIR.iterdir():
        (tmp_path / p.name).symlink_to(p)
    weights = tmp_path / "vae_mnist_z2_beta1.safetensors"
    raw = weights.read_bytes()
    weights.unlink()
    weights.write_bytes(raw[: len(raw) // 2])
    record = tmp_path / "flow_moons.json"
    record.unlink()
    record.write_text('{"family": "flow", "config": {')
    original = checkpoints.shipped
    monkeypatch.setattr(checkpoints, "shipped", lambda name, folder=None: original(name, tmp_path))
    st.cache_resource.clear()  # the good models loaded by earlier tests
    st.cache_data.clear()
    yield tmp_path
    st.cache_resource.clear()
    st.cache_data.clear()


def test_corrupted_checkpoint_gives_a_message_and_a_way_to_train(corrupted_checkpoints, one_torch_thread):
    at = open_page("pages/vae.py")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    warning = " ".join(w.value for w in at.warning)
    assert "could not be loaded" in warning and "vae_mnist_z2_beta1.safetensors" in warning and "corrupt" in warning
    assert any(b.label.startswith("Train the VAE") and b.label.endswith("now") for b in at.button), \
        [b.label for b in at.button]

    at = open_page("pages/flow.py")  # a broken JSON record: the flow page says so and offers to train live
    assert not at.exception, [e.value for e in at.exception]
    warning = " ".join(w.value for w in at.warning)
    assert "could not be loaded" in warning and "flow_moons.json" in warning and "not valid JSON" in warning
    assert at.button(key="train").label == "Train live"

    at = open_page("pages/bayes.py")  # and the server keeps serving the pages that need neither
    assert_ok(at, min_charts=1)


# ---------------------------------------------------------------------------------- uploads

def _rows(n: int) -> bytes:
    return b"x,y\n" + b"".join(f"{i * 0.1:.2f},{(i % 3) - 1}\n".encode() for i in range(n))


@pytest.mark.parametrize("raw, says", [
    (b"1,2\n" * 300_000, "limit is 1.0 MB"),                       # 1.2 MB: over the parser's own limit
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" * 50, "not UTF-8"),
    ("x,y\n1,2\n".encode("utf-16"), "not UTF-8"),
    (b"", "no data rows"),
    (b"x,y\n\n\n", "no data rows"),
    (b"\x00" * 100, "no data rows"),
    (b"1,2,3\n" * 20, "Expected 2 columns"),
    (b"1;2\n" * 20, "Could not read"),
    (b"1,2\n3\n" * 10, "Could not read"),
    (b"=cmd|' /C calc'!A0,1\n" * 20, "Could not read"),
    (b"nan,1\n" * 20, "NaN or infinite"),
    (b"1e400,1\n" * 20, "NaN or infinite"),
    (b"1e7,1\n" * 20, "within"),
    (b"0,0\n" * 20_001, "rows; the limit"),
    (b"1,2\n" * 5, "at least 10"),
    (b"1" * 900_000 + b",1\n", ""),
])
def test_bad_point_files_are_refused_in_words(raw, says):
    with pytest.raises(gdata.DataError) as e:
        gdata.parse_points_csv(raw)
    assert says in str(e.value) and len(str(e.value)) < 300, str(e.value)


def test_a_good_point_file_parses():
    X = gdata.parse_points_csv(_rows(15))
    assert X.shape == (15, 2) and X.dtype == np.float32
    assert np.allclose(X[3], [0.3, -1.0])


def test_uploads_are_size_limited_by_the_server():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert config["maxUploadSize"] <= 5, "server.maxUploadSize (MB) should stay small: uploads are point CSVs"
    assert config.get("enableXsrfProtection", True) is True
    assert gdata.PointLimits().max_bytes <= config["maxUploadSize"] * 1_000_000


UPLOAD_PAGES = [p.path for p in PAGES if "ui.points_editor(" in (ROOT / p.path).read_text()]


def test_some_pages_take_uploads():
    assert len(UPLOAD_PAGES) >= 2, UPLOAD_PAGES


@pytest.mark.parametrize("page", UPLOAD_PAGES)
def test_bad_uploads_on_the_page_say_why_and_keep_the_page(page, one_torch_thread):
    at = open_page(page)
    mine = next(o for o in at.selectbox(key="data").options if o.startswith("My points"))
    at = open_page(page, {"data": mine})
    assert not at.exception
    for name, raw, says in [(f"{MARKER}.csv", b"\x89PNG\r\n\x1a\n\xff\xfe" * 10, "not UTF-8"),
                            ("three.csv", b"1,2,3\n" * 20, "Expected 2 columns"),
                            ("big.csv", b"1,2\n" * 300_000, "limit is 1.0 MB")]:
        at.file_uploader(key="csv").set_value((name, raw, "text/csv")).run()
        assert not at.exception, [e.value for e in at.exception]
        errors = unescape_md(" ".join(e.value for e in at.error))  # shown as written: escaped markdown
        assert "Could not use" in errors and says in errors, errors
        _no_user_html(at)
        assert at.button(key="undo").disabled  # nothing was added
    at.file_uploader(key="csv").set_value(("ok.csv", _rows(15), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not at.button(key="undo").disabled
    spec = next(c.proto.spec for c in at.get("plotly_chart") if "your points (" in c.proto.spec)
    assert "your points (15)" in spec


# ---------------------------------------------------------------------------------- static checks

SOURCES = sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("core/**/*.py"), ROOT / "streamlit_app.py"])
#: Calls that render raw HTML, allowed where the HTML is static text: (file, enclosing function).
HTML_ALLOWED = {("core/ui/url.py", "page_style"), ("core/ui/walkthrough.py", "_layout_style"),
                ("core/class_ui.py", "_lead_cookie_script")}
#: In an allowed function, what may flow into the HTML: literals, the local list of literal CSS, "".join, and the
#: module's constant layout rules (core.ui._LAYOUT_CSS and _FIT_JS, string literals).
STATIC_NAMES = {"css", "_LAYOUT_CSS", "_FIT_JS",
                # class mode's cookie script: its constant name, a value from class_ui.cookie_value (which lets
                # only base32 and base64url through: tested below) and str(an int)
                "COOKIE", "value", "age", "str"}


def _functions(tree):
    """(node, name of the enclosing function or '<module>') for every node."""
    def walk(node, fn):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else fn
            yield child, name
            yield from walk(child, name)
    return walk(tree, "<module>")


def _html_call(call: ast.Call) -> bool:
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    unsafe = any(k.arg == "unsafe_allow_html" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                 for k in call.keywords)
    return unsafe or name in ("html", "iframe", "declare_component")


def _static(expr) -> bool:
    for n in ast.walk(expr):
        if isinstance(n, ast.Name) and n.id not in STATIC_NAMES:
            return False
        if isinstance(n, (ast.JoinedStr, ast.Subscript)):
            return False
        if isinstance(n, ast.Attribute) and n.attr != "join":
            return False
        if isinstance(n, ast.BinOp) and not isinstance(n.op, ast.Add):
            return False
    return True


#: Module-level raw-HTML sites whose HTML comes only from GenLab's own lists through builders that escape every
#: value (core.lessons.pages_list / lessons_table: same-tab links for the home page); checked below.
HTML_BUILDERS = {"pages/home.py": {"pages_list", "lessons_table"}}


def _built_only_by(call: ast.Call, builders: set[str]) -> bool:
    """Every non-literal value in the call's HTML argument is a call of one of ``builders``."""
    arg = call.args[0]
    allowed = {id(n) for b in ast.walk(arg) if isinstance(b, ast.Call) and getattr(b.func, "id", "") in builders
               for n in ast.walk(b)}
    return any(id(n) in allowed for n in ast.walk(arg)) and all(
        id(n) in allowed or isinstance(n, (ast.Constant, ast.BinOp, ast.Add, ast.Load)) for n in ast.walk(arg))


def test_home_page_links_escape_everything_they_are_given():
    from core.app_pages import PageSpec
    from core.lessons import Lesson, lessons_table, pages_list

    evil = '<img src=x onerror=alert(1)> [x](javascript:alert(1))'
    html = lessons_table([Lesson(evil, "gan", 2, evil)], {"gan": evil}) + pages_list(
        [PageSpec("pages/gan.py", evil, ":material/home:", 'gan"><script>', "gan", evil)])
    assert "<img" not in html and "<script>" not in html and '"><' not in html
    assert html.count("<a href=") == 3 and 'target="_self"' in html


def test_the_teachers_cookie_carries_only_a_code_and_a_token():
    import ast as _ast

    from core import class_ui

    code, token = "k3vq7mzp2xfa9rtc".replace("9", "7"), "A" * 32
    assert class_ui.cookie_value(code, token) == f"{code}.{token}"
    for c, t in ((code, "x'; alert(1); '"), (code, "<script>" * 4), ("<b>", token), (code, "a" * 200), (code, "")):
        with pytest.raises(ValueError):
            class_ui.cookie_value(c, t)
    src = _ast.parse((ROOT / "core/class_ui.py").read_text())
    fn = next(n for n in _ast.walk(src) if isinstance(n, _ast.FunctionDef) and n.name == "_lead_cookie_script")
    assigns = [n for n in _ast.walk(fn) if isinstance(n, _ast.Assign) and n.targets[0].id == "value"]
    assert len(assigns) == 1 and "cookie_value(" in _ast.unparse(assigns[0].value)


def test_no_user_input_is_rendered_as_html():
    found = []
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        for node, fn in _functions(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _html_call(node):
                if fn == "<module>" and rel in HTML_BUILDERS:
                    assert _built_only_by(node, HTML_BUILDERS[rel]), f"{rel}:{node.lineno} builds HTML by hand"
                    continue
                found.append((rel, fn, node.lineno))
    sites = {(rel, fn) for rel, fn, _ in found}
    assert sites <= HTML_ALLOWED, f"new raw-HTML call sites (render only static text, then list them): {found}"
    for rel, fn in HTML_ALLOWED:  # the allowed ones build their HTML from literals only
        tree = ast.parse((ROOT / rel).read_text())
        func = next(n for n, _ in _functions(tree) if isinstance(n, ast.FunctionDef) and n.name == fn)
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("append", "html"):
                assert all(_static(a) for a in node.args), f"{rel}:{node.lineno} builds HTML from non-literal values"


def test_nothing_is_unpickled():
    bad = []
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(m and m.split(".")[0] in ("pickle", "cloudpickle", "dill", "joblib", "shelve", "marshal")
                       for m in mods):
                    bad.append(f"{rel}:{node.lineno} imports a pickle module")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                kw = {k.arg: k.value for k in node.keywords}
                owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
                if node.func.attr == "load" and owner == "torch":
                    v = kw.get("weights_only")
                    if not (isinstance(v, ast.Constant) and v.value is True):
                        bad.append(f"{rel}:{node.lineno} torch.load without weights_only=True")
                if node.func.attr == "load" and owner in ("np", "numpy"):
                    v = kw.get("allow_pickle")
                    if v is not None and not (isinstance(v, ast.Constant) and v.value is False):
                        bad.append(f"{rel}:{node.lineno} np.load(allow_pickle=...)")
                if node.func.attr == "read_pickle":
                    bad.append(f"{rel}:{node.lineno} read_pickle")
    assert not bad, bad
