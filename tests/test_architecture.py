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


#: core's app layer, the only Streamlit-aware part of it: URL state, progress and the like (ui), the models
#: trained live and the rule by which a link brings them back (app_models), class mode's screens (class_ui)
APP_LAYER = ("core/ui/", "core/app_models.py", "core/class_ui.py")


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
