"""Real-browser helpers shared by the smoke test and bench/: a Streamlit server and headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, or ``$GENLAB_CHROMIUM``) driven by Playwright through
``executable_path``; nothing is downloaded.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str | None:
    return os.environ.get("GENLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(port: int | None = None, timeout: float = 60, env: dict | None = None,
                     script: Path | str = ROOT / "streamlit_app.py"):
    """Run ``streamlit run <script>`` (GenLab's router by default) on 127.0.0.1 and yield ``(base_url, process)``."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    (ROOT / ".cache").mkdir(exist_ok=True)
    log = open(ROOT / ".cache" / f"{Path(script).stem}-{port}.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start (exit code {proc.poll()})")
            time.sleep(0.25)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if not path:
        raise RuntimeError("Chromium not found: install Debian's chromium (apt-get install chromium) or set GENLAB_CHROMIUM.")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


_IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const main = document.querySelector('[data-testid="stMain"]');
  return !!main && main.querySelectorAll('[data-testid="stElementContainer"]').length > 0
         && document.querySelectorAll('[data-testid="stSkeleton"]').length === 0;
}"""


def wait_rendered(page, timeout_s: float = 60) -> None:
    """Wait until the script run is over and the page holds content (Streamlit's script-state attribute)."""
    page.wait_for_function(_IDLE_JS, timeout=timeout_s * 1000, polling=50)


def open_and_time(page, url: str, timeout_s: float = 60) -> float:
    """Seconds from navigation until the page's first complete render."""
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    wait_rendered(page, timeout_s)
    return time.perf_counter() - t0


def change_and_time(page, action, timeout_s: float = 30) -> float:
    """Seconds from ``action()`` (a widget change) until the rerun is over and the page redrawn."""
    t0 = time.perf_counter()
    action()
    with contextlib.suppress(Exception):  # a very fast rerun may finish before we look
        page.wait_for_function("""() => document.querySelector('[data-testid="stApp"]')
                                     .getAttribute('data-test-script-state') !== 'notRunning'""", timeout=2000, polling=10)
    wait_rendered(page, timeout_s)
    return time.perf_counter() - t0


def navigate_and_time(page, url_path: str, timeout_s: float = 60) -> float:
    """Seconds from a click on the sidebar's link to ``url_path`` until that page is rendered: the
    in-app navigation of a student who already has GenLab open (no reload; scripts already loaded)."""
    link = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{url_path}"]').first
    return change_and_time(page, link.click, timeout_s)


def exceptions_on(page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all('[data-testid="stException"]')]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MB, Linux only."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def screenshot_full(page, path: str, max_height: int = 9000) -> None:
    """Screenshot the whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it."""
    height = page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
                                      return m ? m.scrollHeight : document.body.scrollHeight; }""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max_height, max(size["height"], height + 40))})
    page.wait_for_timeout(600)  # let plotly re-layout to the new size
    wait_rendered(page)
    page.screenshot(path=path)
    page.set_viewport_size(size)
