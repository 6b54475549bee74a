"""Shared test set-up: tests run from any folder, on the CPU, with few threads."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("GENLAB_DEVICE", "cpu")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the server sets it (streamlit_app.py)
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on the 2 cores: one torch thread each
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _pin_navigation_mode():
    """AppTest resets Streamlit's legacy ``pages/``-folder flag before every run, so every run would
    start in that mode and ``ui.require_router()`` would rerun it (losing a clicked button's value).
    A real server leaves the mode for good after its first run; pin that steady state here. The
    fresh-server deep link itself is covered by the real-browser test."""
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager.__init__, "_genlab_pinned", False):
        return
    original = PagesManager.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    __init__._genlab_pinned = True
    PagesManager.__init__ = __init__


_pin_navigation_mode()


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one torch thread; on a shared 2-core machine oversubscribed
    threads made small ops up to 20x slower. Restores the count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def redis_server():
    """A private ``redis-server`` on a free 127.0.0.1 port, no persistence: ``(url, process)``. Skips where
    Debian's redis-server is not installed (.ci/run installs it)."""
    import shutil
    import socket
    import subprocess
    import time

    exe = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if exe is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url, proc
    proc.terminate()
    proc.wait(5)


#: Files whose tests start servers or browsers, or open the pages in AppTest link by link and view by view: marked
#: ``slow``, so ``make test-fast`` (``-m "not slow"``: the core units and tests/test_smoke.py's page smoke) stays
#: under two minutes on two cores. ``make test`` runs everything.
SLOW_FILES = {
    "test_app.py", "test_browser.py", "test_class_browser.py", "test_class_deploy.py", "test_class_mode.py",
    "test_deploy.py", "test_hostile.py", "test_hosting.py", "test_lessons.py", "test_links.py", "test_live_links.py",
    "test_loader_gate.py", "test_paths.py", "test_server_slots.py", "test_sessions.py", "test_stclient.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES or item.path.name.startswith("test_page_"):
            item.add_marker(pytest.mark.slow)
