"""One rule for a visitor's text: shown as typed, never rendered as markdown.

(a) ``core.text.escape_md`` / ``quote`` neutralise link, image, HTML, LaTeX, emphasis, header, list, table and
    autolink payloads (rendered through markdown-it, the CommonMark parser Streamlit's own markdown follows).
(b) A static check of ``pages/``, ``core/ui/`` and the router: no f-string (or concatenation) passed to
    st.markdown / warning / error / info / caption / success / toast / status / write interpolates text a visitor
    supplies (a text field, an upload's name, a parse error, the model loader's reason) without the helper.
(c) The pages themselves: markdown payloads in the Stable Diffusion field, an upload's file name, a CSV cell and a
    prompt reach the page escaped, with no live link or image.
"""
from __future__ import annotations

import ast
import html
import re

import pytest
from markdown_it import MarkdownIt

from core import text, ui
from tests.pagetest import ROOT, open_page

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
LIVE = re.compile(r"<(a|img|em|strong|code|h[1-6]|ul|ol|li|blockquote|table|del|script|hr|pre)\b")

PAYLOADS = [
    "[Session expired: log in](https://evil.example/login) ![](https://evil.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "$\\href{https://evil.example}{\\text{click}}$ and $$x^2$$",
    "# A header",
    "## another\n# and one after a line break",
    "`code` ``more`` **bold** __bold__ *it* _it_ ~~gone~~",
    ":red[coloured] :material/home: :smile:",
    "https://evil.example/x www.evil.example someone@evil.example <https://evil.example>",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "- item\n* item\n+ item\n1. first\n2) second",
    "> quoted\n\n---\n\n    indented code",
    "[ref][1]\n\n[1]: https://evil.example",
    "&lt;b&gt; &amp; &#x5b;",
    "\\[escaped\\] \\\\ back\\slash",
    "line\x00with\x07controls\u202eand a reversal",
]


def _plain(s: str) -> str:
    """What a reader sees of a payload once escaped: control characters and line breaks as spaces."""
    return re.sub("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]+", " ", s)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escape_md_renders_exactly_the_text_and_nothing_live(payload):
    out = MD.render(text.escape_md(payload))
    assert not LIVE.search(out), out
    assert out.startswith("<p>") and out.endswith("</p>\n") and out.count("<p>") == 1, out
    assert html.unescape(out[3:-5]) == _plain(payload).strip()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_punctuation_mark_is_escaped(payload):
    # Streamlit adds LaTeX ($), emoji and colour directives (:), GitHub's autolinks (https://, www., @) to
    # CommonMark; markdown-it above does not parse them, so check the stronger property: once the escape pairs
    # are removed, no ASCII punctuation is left that any markdown extension could act on
    rest = re.sub(r"\\[!-/:-@\[-`{-~]", "", text.escape_md(payload))
    assert not re.search(r"[!-/:-@\[-`{-~]", rest), rest
    assert text.unescape_md(text.escape_md(payload)) == _plain(payload)


@pytest.mark.parametrize("payload", PAYLOADS + ["x` [link](https://evil.example) `", "", "   "])
def test_quote_is_one_code_span(payload):
    out = MD.render("Value " + text.quote(payload) + " was refused.")
    assert out.count("<code>") == 1 and not re.search(r"<(a|img|em|strong|h[1-6]|script)\b", out), out
    assert "was refused." in out


def test_quote_and_escape_md_cut_long_text():
    assert len(text.quote("A" * 10_000)) < 70
    assert text.escape_md("A" * 10_000, 100) == "A" * 100 + "\u2026"


def test_ui_has_one_helper():
    assert ui.escape_md is text.escape_md and ui.quote is text.quote and ui._quote is text.quote


# ------------------------------------------------------------------------------------------------ (b) the grep

MESSAGE_CALLS = {"markdown", "write", "warning", "error", "info", "caption", "success", "toast", "status",
                 "subheader", "header", "title"}
SANITISERS = {"escape_md", "quote", "_quote"}
#: functions whose result carries their argument's text (str methods, containers, the SD loader's reason)
ECHO_CALLS = {"str", "repr", "format", "sorted", "list", "tuple", "set", "reversed", "strip", "lstrip", "rstrip",
              "lower", "upper", "title", "join", "replace", "split", "splitlines", "get", "pop", "items", "values",
              "keys", "stable_diffusion", "load_pipeline", "unknown_keys"}
#: text a visitor or a link supplies: widget values, a report's echo of the prompt, URL state
TEXT_WIDGETS = {"text", "text_input", "text_area", "chat_input"}
REPORT_KEYS = {"prompt", "kept_text", "unknown_words", "name"}
URL_ATTRS = {"raw", "hidden", "query_params"}
#: exceptions whose message quotes the visitor's input (a CSV's cells, the model field)
QUOTING_ERRORS = {"DataError", "ModelUnavailable"}


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _bound_names(target) -> list[str]:
    """The plain names an assignment target binds (``a``, ``a, b``, ``*a``); ``x.attr`` and ``x[k]`` bind none."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _bound_names(t)]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return []


def _walk_scope(node, top: bool):
    """The nodes of one scope: the module without its functions' bodies (``top``), or a whole function."""
    for child in ast.iter_child_nodes(node):
        if top and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield child
        yield from _walk_scope(child, top)


class _Taint:
    """A flow-insensitive taint analysis of one scope (the module's top level, or one function, which also sees
    the module's tainted names): which names can hold a visitor's text."""

    def __init__(self, scope: ast.AST, base: _Taint | None = None):
        top = isinstance(scope, ast.Module)
        self.names: set[str] = set(base.names) if base else set()
        self.uploads: set[str] = set(base.uploads) if base else set()
        nodes = list(_walk_scope(scope, top))
        for node in nodes:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                name = _callee(node.value)
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if name in TEXT_WIDGETS:
                    self.names.update(targets)
                if name == "file_uploader":
                    self.uploads.update(targets)
        changed = True
        while changed:  # propagate through assignments, loops and comprehensions until nothing changes
            changed = False
            for node in nodes:
                pairs = []
                if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    pairs = [(t, node.value) for t in targets]
                elif isinstance(node, (ast.For, ast.comprehension)):
                    pairs = [(node.target, node.iter)]
                for target, value in pairs:
                    if self.tainted(value):
                        for n in _bound_names(target):
                            if n not in self.names:
                                self.names.add(n)
                                changed = True

    def tainted(self, expr) -> bool:
        """Whether ``expr`` can carry a visitor's text that no sanitiser wrapped."""
        if isinstance(expr, ast.Call):
            name = _callee(expr)
            if name in SANITISERS:
                return False
            if name in ECHO_CALLS:
                parts = list(expr.args) + [k.value for k in expr.keywords]
                if isinstance(expr.func, ast.Attribute):
                    parts.append(expr.func.value)
                return any(self.tainted(p) for p in parts)
            return False  # any other call computes something new (a model, a number, a parsed report)
        if isinstance(expr, ast.Name):
            return expr.id in self.names
        if isinstance(expr, ast.Attribute):
            if expr.attr in URL_ATTRS:
                return True
            if expr.attr == "name" and isinstance(expr.value, ast.Name) and expr.value.id in self.uploads:
                return True
            return self.tainted(expr.value) if expr.attr not in ("shape", "size", "ndim") else False
        if isinstance(expr, ast.Subscript):
            key = expr.slice
            if isinstance(key, ast.Constant) and key.value in REPORT_KEYS:
                return True
            return self.tainted(expr.value)
        if isinstance(expr, ast.Lambda):
            return False
        return any(self.tainted(c) for c in ast.iter_child_nodes(expr)
                   if isinstance(c, ast.expr) and not isinstance(c, ast.expr_context))


def _messages(tree):
    """Every message call in ``tree`` and the expressions it renders as markdown (its body, its label)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MESSAGE_CALLS:
            yield node, list(node.args[:1]) + [k.value for k in node.keywords if k.arg in ("body", "label")]


def unescaped_user_text(source: str, filename: str = "<src>") -> list[str]:
    """``file:line`` of every message call whose text interpolates a visitor's text without the helper."""
    tree = ast.parse(source)
    module = _Taint(tree)
    scopes = [(module, ast.Module(body=list(_walk_scope(tree, True)), type_ignores=[]))]
    scopes += [(_Taint(fn, module), fn) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))]
    found = set()
    for taint, scope in scopes:
        nodes = scope.body if isinstance(scope, ast.Module) else [scope]
        for node in nodes:
            found |= {f"{filename}:{call.lineno}" for call, bodies in _messages(node)
                      if any(taint.tainted(b) for b in bodies)}
        # ``except DataError as e``: within that handler ``e`` quotes the visitor's file (other ``e`` differ)
        for node in nodes:
            for handler in ast.walk(node):
                if isinstance(handler, ast.ExceptHandler) and handler.name and handler.type is not None and \
                        {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "")
                         for n in ast.walk(handler.type)} & QUOTING_ERRORS:
                    local = _Taint(ast.Module(body=[], type_ignores=[]), taint)
                    local.names.add(handler.name)
                    for stmt in handler.body:
                        found |= {f"{filename}:{call.lineno}" for call, bodies in _messages(stmt)
                                  if any(local.tainted(b) for b in bodies)}
    return sorted(found)


SCANNED = sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("core/ui/*.py"), ROOT / "streamlit_app.py"])


@pytest.mark.parametrize("path", SCANNED, ids=[p.relative_to(ROOT).as_posix() for p in SCANNED])
def test_no_page_renders_a_visitors_text_as_markdown(path):
    rel = path.relative_to(ROOT).as_posix()
    assert not unescaped_user_text(path.read_text(), rel), (
        "a visitor's text reaches a markdown message unescaped: wrap it in ui.escape_md(...) or ui.quote(...)")


# the check is only worth having if it finds the faults the audit found: each was a line like these
BEFORE = {
    "sd field": '''
sd_name = url.text("Stable Diffusion checkpoint", DEFAULT_SD, key="sd")
pipe, reason = stable_diffusion(sd_name.strip())
if pipe is None:
    st.warning(f"Stable Diffusion is not available here, so the page stays on GenLab mini. {reason} More.")
''',
    "upload name and cells": '''
up = st.file_uploader("CSV", key="csv")
try:
    X = gdata.parse_points_csv(up.getvalue())
except gdata.DataError as e:
    st.error(f"Could not use **{up.name}**: {e}", icon=":material/error:")
''',
    "truncated prompt": '''
rep = result["report"]
st.warning(f"The prompt was **truncated** to: *{rep['kept_text']}*")
''',
    "unknown words": '''
words = ", ".join(f"*{w}*" for w in rep["unknown_words"][:20])
st.warning(f"Words no training caption used: {words}.")
''',
    "a prompt echoed": '''
prompt = url.text("Prompt", "", key="prompt")
box.caption("You asked for " + prompt)
''',
}
AFTER = {k: v.replace("{reason}", "{ui.escape_md(reason)}").replace("**{up.name}**", "{ui.quote(up.name)}")
         .replace(": {e}", ": {ui.escape_md(e)}").replace("{rep['kept_text']}", "{ui.escape_md(rep['kept_text'])}")
         .replace("*{w}*", "*{ui.escape_md(w)}*").replace("+ prompt", "+ ui.escape_md(prompt)")
         for k, v in BEFORE.items()}


@pytest.mark.parametrize("case", list(BEFORE))
def test_the_check_finds_the_audits_faults_and_passes_their_fixes(case):
    assert unescaped_user_text(BEFORE[case]), f"the check missed: {case}"
    assert not unescaped_user_text(AFTER[case]), f"the check flags the fixed form: {case}"


def test_the_check_leaves_numbers_and_fixed_text_alone():
    src = '''
prompt = url.text("Prompt", "", key="prompt")
out = run(pipe, prompt)
st.caption(f"{len(out['images'])} images in {out['seconds']:.2f} s for seed {seed}.")
st.info("A fixed sentence.")
'''
    assert not unescaped_user_text(src)


# ------------------------------------------------------------------------------------------------ (c) the pages

EVIL = "[Session expired: log in](https://evil.example/login) ![](https://evil.example/p.png)"
T2I = "pages/text_to_image.py"
SD = "Stable Diffusion (local folder or hub id)"


def _live(body: str) -> list[str]:
    """Links and images a markdown body would render (markdown-it), and raw autolink/URL text left unescaped."""
    live = re.findall(r"<(?:a|img)\b[^>]*>", MD.render(body))
    outside_code = re.sub(r"`[^`]*`", "", body)  # a code span is literal in every markdown flavour
    live += re.findall(r"https?:|www\.|<https?", outside_code)  # escaped, these read https\: and www\.
    return live


def _bodies(at, kinds=("warning", "error", "info", "markdown", "caption", "success")) -> list[str]:
    return [e.value for k in kinds for e in getattr(at, k)]


def test_a_link_with_markdown_in_the_sd_field_shows_it_as_text(one_torch_thread):
    at = open_page(T2I, {"model": SD, "sd": EVIL, "steps": 2, "n": 1})
    assert not at.exception, [e.value for e in at.exception]
    warning = next(w.value for w in at.warning if "no usable Stable Diffusion weights" in w.value)
    assert not _live(warning), warning
    assert "Session expired" in warning and EVIL not in warning
    assert EVIL in text.unescape_md(warning)  # the visitor's text, shown as typed
    for body in _bodies(at):
        assert not re.findall(r"<(?:a|img)\b", MD.render(body)), body


def test_a_markdown_prompt_is_echoed_as_text(one_torch_thread):
    # the tokenizer's decoding spaces out brackets, so a link does not survive into the truncated text; backticks
    # and asterisks do: "`rm -rf`" came back as a code span, "**now**" as bold
    prompt = "a `rm -rf` **now** ![](https://evil.example/p.png) [log in](https://evil.example) zebra " + "circle " * 40
    at = open_page(T2I, {"prompt": prompt, "steps": 1, "n": 1})
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning]
    truncated = next(s for s in said if "truncated" in s)
    out = MD.render(truncated)
    assert out.count("<strong>") == 1 and not re.search(r"<(a|img|code)\b", out), out  # only our own bold word
    assert "rm - rf" in text.unescape_md(truncated)
    assert any("zebra" in s for s in said), said
    for body in _bodies(at):
        assert not re.findall(r"<(?:a|img)\b", MD.render(body)), body


GAN = "pages/gan.py"
MINE = "My points (click or CSV)"


def test_an_uploads_name_and_cells_are_shown_as_text(one_torch_thread):
    at = open_page(GAN, {"data": MINE})
    assert not at.exception
    name = EVIL + ".csv"
    cell = b"x,y\n[click here](https://evil.example),1\n" + b"1,2\n" * 12
    at.file_uploader(key="csv").set_value((name, cell, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    error = next(e.value for e in at.error if "Could not use" in e.value)
    assert not _live(error), error
    assert "[click here](https://evil.example)" in text.unescape_md(error)  # the cell, quoted as typed
    assert EVIL in error  # the file name, inside one code span
    out = MD.render(error)
    assert out.count("<code>") == 1 and not re.search(r"<(a|img)\b", out), out
