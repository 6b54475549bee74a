"""What can be checked of the deployable image without a Docker engine: it installs what the README's
commands install, ships the checkpoints and the config, and serves where the README says."""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
README = (ROOT / "README.md").read_text()


def test_image_installs_the_same_requirements_as_make_run():
    installs = re.findall(r"pip install[^\n]*-r (\S+)", DOCKERFILE)
    assert installs == ["requirements.txt"]
    assert "call pip_install,-r requirements.txt)" in MAKEFILE  # make run installs the same file
    assert "$(BIN)/pip install -q" in MAKEFILE
    reqs = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert all("==" in line for line in reqs), "every requirement pinned, in the image as on the machine"
    assert "torch==" in "\n".join(reqs)


def test_image_python_matches_the_one_tested_here():
    m = re.search(r"FROM python:(\d+\.\d+)-slim", DOCKERFILE)
    assert m and m.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_image_ships_checkpoints_and_config_and_serves_on_8501_with_a_healthcheck():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("checkpoints", ".streamlit", "core", "pages", "streamlit_app.py"):
        assert needed not in ignored and (ROOT / needed).exists()
    assert "COPY . ." in DOCKERFILE and "EXPOSE 8501" in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE and "/_stcore/health" in DOCKERFILE
    assert re.search(r'CMD \["streamlit", "run", "streamlit_app.py", "--server.port=8501"', DOCKERFILE)


def test_readme_covers_the_hosts_and_replicas():
    for phrase in ("docker build", "Hugging Face Spaces", "app_port: 8501", "Streamlit Community Cloud",
                   "sticky sessions", "STREAMLIT_SERVER_COOKIE_SECRET", "make run", "make test"):
        assert phrase in README, phrase


def test_uploads_are_size_limited():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] <= 5 and cfg["server"]["enableXsrfProtection"] is True
