"""The house rules of DESIGN.md, checked: core is Streamlit-free, pages are thin and run inside the router."""
import ast
from pathlib import Path

from core.app_pages import HOME, PAGES

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


#: core's app layer, the only Streamlit-aware part of it: URL state, progress, the models trained live and the
#: rule by which a link brings them back, the pages' caches (core/ui/), and class mode's screens (class_ui)
APP_LAYER = ("core/ui/", "core/class_ui.py")


def test_core_is_free_of_streamlit_and_models_of_plotting():
    for path in (ROOT / "core").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        imported = _imports(path)
        app_layer = rel.startswith(APP_LAYER)
        if not app_layer:
            assert "streamlit" not in imported, f"{rel} imports streamlit"
        if not rel.startswith("core/viz/") and not app_layer:
            assert not imported & {"plotly", "altair"}, f"{rel} imports a plotting library"


def test_every_page_exists_and_runs_inside_the_router():
    for spec in [HOME] + PAGES:
        path = ROOT / spec.path
        assert path.exists(), spec.path
        assert "ui.require_router()" in path.read_text(), f"{spec.path} must call ui.require_router() first"
        assert spec.icon.startswith(":material/"), "no emoji font is installed: use material icons"
        assert spec.url_path == path.stem or spec is HOME, "url_path must equal the file name (AppTest, deep links)"


#: A page reads widgets, calls core and draws: what it may not be (issue: "no page over 250 lines").
MAX_PAGE_LINES = 250


def test_pages_are_thin_and_leave_torch_to_core():
    for path in sorted((ROOT / "pages").glob("*.py")):
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_PAGE_LINES, f"{path.name} has {lines} lines (at most {MAX_PAGE_LINES})"
        assert not _imports(path) & {"torch", "diffusers"}, f"{path.name} imports torch: model work goes to core"


def test_lecture_text_and_families_keep_to_their_floors():
    """core/steps/ is plain data (no Streamlit, no torch); the family modules never import the app layer."""
    for path in (ROOT / "core" / "steps").glob("*.py"):
        assert not _imports(path) & {"streamlit", "torch", "plotly", "altair"}, path.name
    for name in ("gan", "vae", "flow", "diffusion", "guided", "text_to_image", "training", "families"):
        tree = ast.parse((ROOT / "core" / f"{name}.py").read_text())
        up = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
              and (n.module.startswith("core.ui") or (n.module == "core" and any(a.name == "ui" for a in n.names)))]
        assert not up, f"core/{name}.py reaches up into core.ui"
