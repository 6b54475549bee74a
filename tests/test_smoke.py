"""The inner loop's page smoke (``make test-fast``): every page of the app opens on its defaults through the
router, with no exception and no error box, and draws something; the walkthrough's first step opens too. The
pages' own test files (marked slow) check what each draws, link by link."""
import pytest

from core.app_pages import PAGES
from tests.pagetest import assert_ok, open_page


@pytest.mark.parametrize("page", [p.path for p in PAGES], ids=[p.url_path for p in PAGES])
def test_every_page_opens_on_its_defaults_and_draws(page):
    at = open_page(page)
    assert_ok(at)
    drawn = sum(len(at.get(kind)) for kind in ("plotly_chart", "image", "arrow_vega_lite_chart"))
    assert drawn >= 1, f"{page} drew no figure"


@pytest.mark.parametrize("page", [p.path for p in PAGES], ids=[p.url_path for p in PAGES])
def test_every_page_opens_its_walkthrough_on_step_one(page):
    at = open_page(page, {"walkthrough": "true", "step": "1"})
    assert_ok(at)
    assert at.sidebar.toggle(key="walkthrough").value
