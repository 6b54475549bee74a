"""Edge cases of a visitor's own points: denormals, one repeated point, points on a line, a trailing comma, and
a bound on how many points a session may pile up. Each gets a clear message or a sane result, never NaN or a
library's error."""
from __future__ import annotations

import numpy as np
import pytest

from core import compare, flow
from core import data as gdata
from core.text import unescape_md
from tests.pagetest import open_page

DENORMALS = b"x,y\n" + b"1e-45,1e-45\n" * 8 + b"0,0\n" * 12
MINE = "My points (click or CSV)"


def _csv(X) -> bytes:
    return ("x,y\n" + "\n".join(f"{float(x)!r},{float(y)!r}" for x, y in np.asarray(X, np.float64))).encode()


# ------------------------------------------------------------------------------------ scale-safe normalisation

def test_denormal_points_are_one_spot_not_nan():
    X = gdata.parse_points_csv(DENORMALS)
    assert gdata.spread_problem(X) == "identical"
    with pytest.raises(gdata.DataError, match="degenerate: all 20 points sit at one spot"):
        gdata.normalise_points(X, what="a GAN")


@pytest.mark.parametrize("scale", [1e-20, 1e-3, 1.0, 1e5])
def test_normalised_points_fill_the_box_at_any_scale(scale):
    X = (np.random.default_rng(0).normal(size=(50, 2)) * scale + 3 * scale).astype(np.float32)
    Xn = gdata.normalise_points(X, 2.5)
    assert Xn.dtype == np.float32 and np.isfinite(Xn).all()
    assert np.isclose(np.abs(Xn).max(), 2.5, rtol=1e-5)


def test_points_on_a_line_still_normalise_for_a_gan():
    X = np.stack([np.linspace(0, 1, 30), 2 * np.linspace(0, 1, 30)], 1)
    assert gdata.spread_problem(X) == "collinear" and gdata.spread_problem(X, need="point") is None
    assert np.isfinite(gdata.normalise_points(X)).all()


def test_the_gan_page_on_denormal_points_says_so_and_keeps_running(one_torch_thread):
    at = open_page("pages/gan.py", {"data": MINE})
    at.file_uploader(key="csv").set_value(("tiny.csv", DENORMALS, "text/csv")).run()
    for _ in range(2):  # and on every rerun after it
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        said = unescape_md(" ".join(w.value for w in at.warning))
        assert "degenerate" in said and "one spot" in said, said
        at.run()
    assert len(at.session_state["_gan_points"]) == 20  # kept, so the visitor can see and clear them


def test_the_gan_page_trains_on_tiny_but_distinct_points(one_torch_thread):
    X = np.random.default_rng(1).normal(size=(40, 2)) * 1e-20
    at = open_page("pages/gan.py", {"data": MINE})
    at.file_uploader(key="csv").set_value(("small.csv", _csv(X), "text/csv")).run()
    assert not at.exception and not at.error and not at.warning, [w.value for w in at.warning]
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(charts) >= 2 and not any("NaN" in c or "Infinity" in c for c in charts)


# ------------------------------------------------------------------------------------ the bound on uploads

def test_the_session_bound_counts_every_upload():
    gdata.check_room(0, 20_000)
    gdata.check_room(10_000, 10_000)
    with pytest.raises(gdata.DataError, match="at most 20,000 points in all"):
        gdata.check_room(15_000, 15_000)


def test_ten_uploads_cannot_pile_up_points(one_torch_thread):
    grid = np.stack(np.meshgrid(np.arange(100), np.arange(150)), -1).reshape(-1, 2)  # 15,000 distinct points
    raw = _csv(grid)
    at = open_page("pages/gan.py", {"data": MINE})
    at.file_uploader(key="csv").set_value(("a.csv", raw, "text/csv")).run()
    assert not at.exception and len(at.session_state["_gan_points"]) == 15_000
    at.file_uploader(key="csv").set_value(("b.csv", raw + b"\n", "text/csv")).run()
    assert not at.exception
    error = unescape_md(" ".join(e.value for e in at.error))
    assert "Could not use" in error and "at most 20,000 points in all" in error, error
    assert len(at.session_state["_gan_points"]) == 15_000


# ------------------------------------------------------------------------------------ degenerate data

@pytest.mark.parametrize("X, kind", [
    (np.ones((30, 2)), "one spot"),
    (np.stack([np.linspace(-1, 1, 30), 0.5 * np.linspace(-1, 1, 30) + 0.1], 1), "one straight line"),
    (np.stack([np.linspace(-1, 1, 30), np.full(30, 0.3)], 1), "one straight line"),
])
def test_the_flow_calls_degenerate_data_degenerate(X, kind):
    with pytest.raises(gdata.DataError) as e:
        flow.split_points(X)
    assert "degenerate" in str(e.value) and kind in str(e.value)
    with pytest.raises(gdata.DataError) as e:  # and training on them directly
        flow.train(flow.FlowConfig(steps=5), (X[:20], X[20:]))
    assert "degenerate" in str(e.value) and "learning rate" not in str(e.value).replace("whatever the learning rate", "")


def test_long_thin_data_in_odd_units_is_not_degenerate():
    rng = np.random.default_rng(0)
    X = np.stack([rng.uniform(0, 1000, 200), rng.uniform(0, 0.5, 200)], 1)
    assert gdata.spread_problem(X) is None
    flow.split_points(X)


def test_the_flow_page_says_points_on_a_line_are_degenerate(one_torch_thread):
    X = np.stack([np.linspace(0, 5, 30), np.linspace(0, 5, 30)], 1)
    at = open_page("pages/flow.py", {"data": MINE})
    at.file_uploader(key="csv").set_value(("line.csv", _csv(X), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    said = unescape_md(" ".join(w.value for w in at.warning))
    assert "degenerate" in said and "straight line" in said, said
    assert "lower the learning rate" not in said and "smaller learning rate" not in said


def test_compare_on_identical_points_says_so():
    config = compare.CompareConfig(data="custom", budget=1.0)
    with pytest.raises(gdata.DataError) as e:
        compare.make_split(config, np.full((40, 2), 0.7, np.float32))
    assert "degenerate" in str(e.value) and "bandwidth" not in str(e.value)


def test_the_compare_page_on_identical_points_says_so_before_training(one_torch_thread):
    at = open_page("pages/compare.py", {"data": MINE})
    at.file_uploader(key="csv").set_value(("same.csv", b"x,y\n" + b"0.5,0.5\n" * 30, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    said = unescape_md(" ".join(w.value for w in at.warning))
    assert "degenerate" in said and "one spot" in said, said
    assert "bandwidth" not in said


# ------------------------------------------------------------------------------------ the CSV parser

def test_a_first_row_with_a_trailing_comma_is_data_not_a_header():
    rows = b"".join(f"{i},{-i},\n".encode() for i in range(12))
    X = gdata.parse_points_csv(rows)
    assert len(X) == 12 and X[0].tolist() == [0, 0] and X[11].tolist() == [11, -11]
    X = gdata.parse_points_csv(b"x,y,\n" + rows)  # with a header that has one too
    assert len(X) == 12


def test_a_first_row_half_numeric_is_reported_not_dropped():
    with pytest.raises(gdata.DataError, match="line 1") as e:
        gdata.parse_points_csv(b"1,abc\n" + b"1,2\n" * 12)
    assert "'1,abc'" in str(e.value)


def test_bad_rows_are_named_by_line_and_content():
    with pytest.raises(gdata.DataError) as e:
        gdata.parse_points_csv(b"x,y\n" + b"1,2\n" * 5 + b"\n3,[evil](https://x.example)\n" + b"1,2\n" * 6)
    assert "line 8" in str(e.value) and "[evil](https://x.example)" in str(e.value)
