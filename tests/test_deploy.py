"""Serving a class: the Kubernetes manifests and the compose file hold what the design asks of a balancer, and a
real two-replica cluster behind HAProxy (``deploy/cluster.py``, loopback only) keeps a session on its replica,
serves the static bundles precompressed from nginx (brotli, gzip, or as they are, as the client asks; the
replicas stand in when nginx is down), survives the loss of a replica without losing a view, and a first visit
stays within the download budget."""
from __future__ import annotations

import glob
import gzip
import http.client
import json
import re
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from deploy import cluster as dc
from tests import browser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
HEALTH = "/_stcore/health"
MB = 1e6
BUDGET_MB = 2.5  # design: a first visit downloads at most 2.5 MB
LESSON = "/bayes?walkthrough=true&step=1&hide=code"
ARTIFACTS = ROOT / "artifacts"

needs_haproxy = pytest.mark.skipif(dc.haproxy_path() is None,
                                   reason="haproxy is not installed (apt-get install haproxy; .ci/run does)")
needs_browser = pytest.mark.skipif(browser.chromium_path() is None, reason="Chromium is not installed")
needs_nginx = pytest.mark.skipif(dc.nginx_path() is None, reason="nginx is not installed (apt-get install nginx "
                                 "libnginx-mod-http-brotli-static; .ci/run does)")


def manifests() -> dict[str, dict]:
    """Every Kubernetes object under deploy/k8s by kind (one of each kind here)."""
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[doc["kind"]] = doc
    return docs


# ---- the manifests and the compose file (no cluster needed)

def test_manifests_validate_against_the_kubernetes_schemas():
    import kubernetes_validate

    objs = manifests()
    assert {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "Secret"} <= set(objs)
    for kind, doc in objs.items():
        if kind == "Kustomization":  # kustomize's own file, not an API object
            listed = set(doc["resources"])
            assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
            continue
        # strict: an unknown or misspelt field fails, as `kubectl apply --validate=strict` would (schemas bundled)
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_pods_are_probed_on_the_health_endpoint_and_share_one_secret():
    objs = manifests()
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["path"] == HEALTH, probe
    res = c["resources"]
    assert res["requests"]["cpu"] == res["limits"]["cpu"] == "1"  # Python runs on one core
    assert res["requests"]["memory"] in ("1536Mi", "1.5Gi") and res["limits"]["memory"] == "2Gi"
    env = {e["name"]: e for e in c["env"]}
    ref = env["STREAMLIT_SERVER_COOKIE_SECRET"]["valueFrom"]["secretKeyRef"]
    secret = objs["Secret"]
    assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    assert "REPLACE" in secret["stringData"][ref["key"]], "the shipped secret must stay an obvious placeholder"
    assert "replace" in (K8S / "secret.yaml").read_text().lower()


def test_ingress_is_sticky_by_cookie_with_long_websocket_timeouts_and_the_hpa_scales_the_deployment():
    objs = manifests()
    ing = objs["Ingress"]
    notes = ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert notes.get("nginx.ingress.kubernetes.io/affinity-mode", "persistent") == "persistent"
    for t in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(notes[f"nginx.ingress.kubernetes.io/{t}"]) >= 3600, t
    svc, dep = objs["Service"], objs["Deployment"]
    (rule,) = ing["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"]
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    hpa = objs["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", dep["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and hpa["spec"]["minReplicas"] >= 2


def test_compose_runs_replicas_behind_haproxy_with_one_secret():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    replicas = sorted(n for n in services if re.fullmatch(r"genlab\d+", n))
    assert len(replicas) >= 2
    for name in replicas:
        s = services[name]
        assert s["build"]["context"] == ".." and (DEPLOY / s["build"]["context"] / "Dockerfile").exists()
        assert s["environment"]["STREAMLIT_SERVER_COOKIE_SECRET"].startswith("${GENLAB_COOKIE_SECRET")
    assert len({services[n]["environment"]["STREAMLIT_SERVER_COOKIE_SECRET"] for n in replicas}) == 1
    lb = services["haproxy"]
    assert lb["image"].startswith("haproxy:")
    assert any(v.startswith("./haproxy.cfg:") for v in lb["volumes"])
    assert set(lb["depends_on"]) == set(replicas) | {"nginx"}
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    # the balancer's servers are exactly the compose replicas, each on Streamlit's port, cookie = name
    servers = re.findall(r"^\s*server (\S+) (\S+):8501 cookie (\S+)", cfg, re.M)
    assert [(n, n, n) for n in replicas] == servers
    # /static/ from the compose service nginx, on the port its config listens on; the replicas as its backups
    static = cfg[cfg.index("\nbackend static"):]
    ngx = services["nginx"]
    (port,) = re.findall(r"^\s*listen (\d+);", (DEPLOY / "nginx.conf").read_text(), re.M)
    assert re.search(rf"^\s*server nginx nginx:{port}$", static, re.M) and port in ngx["expose"]
    assert re.findall(r"^\s*server (\S+) (\S+):8501 backup$", static, re.M) == [(n, n) for n in replicas]
    assert any(v.startswith("./nginx.conf:/etc/nginx/genlab.conf:ro") for v in ngx["volumes"])
    assert (DEPLOY / ngx["build"]["context"] / ngx["build"]["dockerfile"]).exists()
    assert "libnginx-mod-http-brotli-static" in (DEPLOY / ngx["build"]["dockerfile"]).read_text()
    # nginx's root is the volume the one-shot `static` service fills from the GenLab image, before nginx starts
    (root,) = re.findall(r"^\s*root (\S+);", (DEPLOY / "nginx.conf").read_text(), re.M)
    pre = services["static"]
    assert pre["image"] == services[replicas[0]]["image"] and pre["command"][-2:] == ["deploy.precompress", root]
    assert f"static:{root}" in pre["volumes"] and f"static:{root}:ro" in ngx["volumes"]
    assert "static" in compose["volumes"]
    assert ngx["depends_on"]["static"]["condition"] == "service_completed_successfully"


def test_haproxy_config_template_holds_the_balancer_settings():
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    for needed in ("cookie SERVERID insert indirect nocache", "timeout tunnel 1h", "option redispatch",
                   "option httpchk GET /_stcore/health", "compression algo gzip", "retries",
                   "http-response set-header X-GenLab-Replica", "use_backend static if { path_beg /static/ }",
                   "backend static", "option allbackups"):
        assert needed in cfg, needed
    types = re.search(r"^\s*compression type (.+)$", cfg, re.M).group(1).split()
    for t in ("application/javascript", "text/javascript", "text/css", "application/json", "image/svg+xml", "font/ttf"):
        assert t in types, t
    assert "font/woff2" not in types  # compressed already
    assert re.search(r"default-server .*\binter 1s\b.*\bfall 2\b", cfg)


@needs_haproxy
@pytest.mark.parametrize("static", [("127.0.0.1", 8700), None], ids=["nginx", "no-nginx"])
def test_generated_config_is_accepted_by_haproxy(tmp_path, static):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(dc.haproxy_config(8500, [("genlab1", "127.0.0.1", 8601), ("genlab2", "127.0.0.1", 8602)],
                                     stats_socket=tmp_path / "s.sock", static=static))
    text = cfg.read_text()
    assert "bind 127.0.0.1:8500" in text and "server genlab2 127.0.0.1:8602 cookie genlab2" in text
    assert "genlab1:8501" not in text and "nginx:8081" not in text
    if static:
        assert "server nginx 127.0.0.1:8700\n" in text and "server genlab2 127.0.0.1:8602 backup\n" in text
        assert "use_backend static" in text
    else:  # no nginx: everything to the replicas, as before nginx was added
        code = re.sub(r"#.*", "", text)
        assert "backend static" not in code and "use_backend" not in code and "server nginx" not in code
    out = subprocess.run([dc.haproxy_path(), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def test_nginx_config_template_serves_precompressed_files_with_long_caching():
    cfg = (DEPLOY / "nginx.conf").read_text()
    for needed in ("brotli_static on;", "gzip_static on;", "gzip_vary on;", "location /static/",
                   'add_header Cache-Control "public, max-age=31536000, immutable";', "location = /_stcore/health",
                   "load_module /usr/lib/nginx/modules/ngx_http_brotli_static_module.so;"):
        assert needed in cfg, needed
    assert re.search(r"^\s*application/javascript\s+js\b", cfg, re.M)
    assert re.search(r"^\s*font/woff2\s+woff2;", cfg, re.M)
    assert "daemon" not in re.sub(r"#.*", "", cfg)  # the cluster passes `-g 'daemon off;'`
    # every file Streamlit ships under /static/ carries a content hash in its name, which the immutable location matches
    (pattern,) = re.findall(r'location ~ "(.+)"', cfg)
    files = [p for p in plotly_chunk().parent.parent.rglob("*") if p.is_file()]
    assert len(files) > 100 and all(re.search(pattern, p.name) for p in files)
    assert not re.search(pattern, "index.html") and not re.search(pattern, "manifest.json")


@needs_nginx
@pytest.mark.parametrize("brotli", [True, False], ids=["brotli", "gzip-only"])
def test_generated_nginx_config_is_accepted_by_nginx(tmp_path, brotli):
    module = dc.nginx_brotli_module() if brotli else None
    if brotli and module is None:
        pytest.skip("nginx's brotli module is not installed (apt-get install libnginx-mod-http-brotli-static)")
    (tmp_path / "nginx-temp").mkdir()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(dc.nginx_config(8701, tmp_path / "root", tmp_path, brotli_module=module))
    text = re.sub(r"#.*", "", cfg.read_text())
    assert "listen 127.0.0.1:8701;" in text and f'root "{tmp_path / "root"}";' in text
    assert f'pid "{tmp_path / "nginx.pid"}";' in text and "/var/lib/nginx" not in text and "/run/" not in text
    assert ("brotli_static on;" in text) == ("load_module" in text) == brotli
    out = subprocess.run([dc.nginx_path(), "-t", "-c", str(cfg)], capture_output=True, text=True, timeout=30,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_precompress_makes_br_and_gz_copies_once(tmp_path, monkeypatch):
    from deploy import precompress as pc

    src = tmp_path / "src"
    (src / "js").mkdir(parents=True)
    (src / "media").mkdir()
    big = b"function plot(){return 'a lot of repetitive javascript';}\n" * 200
    (src / "js" / "big.AbCd1234.js").write_bytes(big)
    (src / "js" / "tiny.AbCd1234.js").write_bytes(b"let x=1;")  # under 1 KB: no copies
    (src / "media" / "font.AbCd1234.woff2").write_bytes(bytes(range(256)) * 20)  # compressed already
    monkeypatch.setattr(pc, "source_dir", lambda: src)
    monkeypatch.setattr(pc, "streamlit_version", lambda: "0.0.test")
    out = tmp_path / "out"
    (out / "static" / "js").mkdir(parents=True)
    (out / "static" / "js" / "old.ZZZZZZZZ.js").write_bytes(b"from an earlier version")
    m = pc.precompress(out, workers=1, log=lambda *_: None)
    assert not m["reused"] and m["made"]["br"] == m["made"]["gz"] == 1
    js = out / "static" / "js" / "big.AbCd1234.js"
    assert js.read_bytes() == big and gzip.decompress(js.with_name(js.name + ".gz").read_bytes()) == big
    if m["brotli"]:
        import brotli

        assert brotli.decompress(js.with_name(js.name + ".br").read_bytes()) == big
    for name in ("js/tiny.AbCd1234.js", "media/font.AbCd1234.woff2"):
        assert (out / "static" / name).read_bytes() == (src / name).read_bytes()
        assert not list((out / "static").glob(name + ".*"))
    assert not (out / "static" / "js" / "old.ZZZZZZZZ.js").exists()  # a file the source no longer has is removed
    assert json.loads((out / ".precompress.json").read_text())["streamlit"] == "0.0.test"
    stamp = js.stat().st_mtime_ns
    again = pc.precompress(out, workers=1, log=lambda *_: None)
    assert again["reused"] and js.stat().st_mtime_ns == stamp  # the second start does nothing
    monkeypatch.setattr(pc, "streamlit_version", lambda: "0.0.other")
    assert not pc.precompress(out, workers=1, log=lambda *_: None)["reused"]  # another version: made again


# ---- a real cluster: two replicas behind HAProxy on loopback

@pytest.fixture(scope="module")
def two():
    if dc.haproxy_path() is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy; .ci/run does)")
    with dc.cluster(replicas=2, port=None, timeout=180) as c:
        yield c


def request(c, path: str, headers: dict | None = None, method: str = "GET"):
    """One plain HTTP request through the balancer: ``(status, headers (lower-case), body bytes)``."""
    u = urlsplit(c.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def sticky(headers: dict) -> str | None:
    m = re.search(rf"\b{dc.COOKIE}=([^;]+)", headers.get("set-cookie", ""))
    return m.group(1) if m else None


@needs_haproxy
def test_a_session_stays_on_its_replica(two):
    c = two
    assert {n: s.split()[0] for n, s in c.status().items()} == {"genlab1": "UP", "genlab2": "UP"}
    seen = {}
    for _ in range(6):  # without a cookie the balancer spreads first visits, and pins each with a cookie
        status, h, _ = request(c, "/")
        assert status == 200 and "HttpOnly" in h["set-cookie"]
        assert sticky(h) == h["x-genlab-replica"]
        seen[h["x-genlab-replica"]] = True
    assert set(seen) == {"genlab1", "genlab2"}, "first visits all went to one replica"
    for name in c.names:
        cookie = {"Cookie": f"{dc.COOKIE}={name}"}
        for path in ("/", "/bayes", HEALTH, "/_stcore/host-config", "/gan?n=50"):
            status, h, _ = request(c, path, cookie)
            assert status == 200 and h["x-genlab-replica"] == name, (path, name)
            assert "set-cookie" not in h or dc.COOKIE not in h["set-cookie"]  # kept, not re-issued
        # the WebSocket upgrade with the same cookie reaches the same replica and is passed through (101)
        u = urlsplit(c.url)
        with socket.create_connection((u.hostname, u.port), timeout=10) as s:
            s.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       f"Sec-WebSocket-Protocol: streamlit\r\nOrigin: {c.url}\r\nCookie: {dc.COOKIE}={name}\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                assert chunk, head
                head += chunk
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101"), lines[0]
        assert f"x-genlab-replica: {name}" in [line.lower() for line in lines]


def plotly_chunk() -> Path:
    import streamlit

    (path,) = glob.glob(str(Path(streamlit.__file__).parent / "static" / "static" / "js" / "PlotlyChart.*.js"))
    return Path(path)


IMMUTABLE = "public, max-age=31536000, immutable"


@needs_haproxy
@needs_nginx
def test_static_assets_come_precompressed_from_nginx(two):
    import brotli

    c = two
    assert c.nginx is not None and c.nginx.poll() is None, "nginx did not start (see the cluster's nginx.log)"
    assert c.static_status()["nginx"].split()[0] == "UP"
    js = plotly_chunk()
    raw = js.read_bytes()
    path = f"/static/js/{js.name}"
    for accept, encoding in (("gzip, deflate, br, zstd", "br"), ("br", "br"), ("gzip, deflate", "gzip"),
                             (None, None), ("identity", None)):
        status, h, body = request(c, path, {"Accept-Encoding": accept} if accept else {})
        assert status == 200 and h["x-genlab-replica"] == "nginx", (accept, h)
        assert h.get("content-encoding") == encoding, (accept, h)
        assert h["content-type"].startswith("application/javascript") and h["cache-control"] == IMMUTABLE
        assert "accept-encoding" in h.get("vary", "").lower() and "set-cookie" not in h
        if encoding == "br":
            assert brotli.decompress(body) == raw and len(body) < 0.25 * len(raw), len(body)  # 1.06 of 4.7 MB
        elif encoding == "gzip":
            assert gzip.decompress(body) == raw and len(body) < 0.31 * len(raw), len(body)  # gzip -9: 1.42 MB
        else:
            assert body == raw
    css = next((js.parent.parent / "css").glob("index.*.css"))
    status, h, body = request(c, f"/static/css/{css.name}", {"Accept-Encoding": "gzip, deflate, br"})
    assert h.get("content-encoding") == "br" and brotli.decompress(body) == css.read_bytes()
    assert h["content-type"].startswith("text/css") and h["cache-control"] == IMMUTABLE
    font = next((js.parent.parent / "media").glob("*.woff2"))  # compressed already: sent as it is
    status, h, body = request(c, f"/static/media/{font.name}", {"Accept-Encoding": "gzip, deflate, br"})
    assert status == 200 and "content-encoding" not in h and body == font.read_bytes()
    assert h["content-type"] == "font/woff2" and h["cache-control"] == IMMUTABLE
    # a file that is not there: a plain 404, not cached for a year; the page and its API stay on the replicas
    status, h, _ = request(c, "/static/js/missing.AbCd1234.js", {"Accept-Encoding": "br"})
    assert status == 404 and "immutable" not in h.get("cache-control", "")
    status, h, _ = request(c, "/", {"Accept-Encoding": "gzip, br"})
    assert status == 200 and h["x-genlab-replica"] in c.names and h.get("content-encoding") == "gzip"
    assert h["x-genlab-replica"] == sticky(h)


# ---- real browsers through the balancer

@pytest.fixture(scope="module")
def chromium():
    if browser.chromium_path() is None:
        pytest.skip("Chromium is not installed")
    with browser.chromium() as b:
        yield b


class Traffic:
    """What one page received over the network, from Chrome's DevTools events: per HTTP response the bytes as
    transferred (the compressed body), the decoded body, and the encoding; and the WebSocket handshakes."""

    def __init__(self, page):
        self.responses: dict[str, dict] = {}
        self.handshakes: list[dict] = []
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.webSocketWillSendHandshakeRequest", self._ws_request)
        cdp.on("Network.webSocketHandshakeResponseReceived", self._ws_response)
        cdp.send("Network.enable")

    def _response(self, e):
        r = e["response"]
        h = {k.lower(): v for k, v in r.get("headers", {}).items()}
        self.responses[e["requestId"]] = {"url": r["url"], "head": r.get("encodedDataLength", 0), "decoded": 0,
                                          "encoding": h.get("content-encoding", ""), "replica": h.get("x-genlab-replica"),
                                          "done": None}

    def _data(self, e):
        if e["requestId"] in self.responses:
            self.responses[e["requestId"]]["decoded"] += e["dataLength"]

    def _finished(self, e):
        if e["requestId"] in self.responses:
            r = self.responses[e["requestId"]]
            r["done"] = e["encodedDataLength"]

    def _ws_request(self, e):
        self.handshakes.append({"t": time.monotonic(), "cookie": e["request"]["headers"].get("Cookie", "")})

    def _ws_response(self, e):
        h = {k.lower(): v for k, v in e["response"]["headers"].items()}
        self.handshakes[-1].update(status=e["response"]["status"], replica=h.get("x-genlab-replica"), t_open=time.monotonic())

    def finished(self) -> list[dict]:
        """Finished HTTP responses: ``{url, wire (body bytes as transferred), decoded, encoding, replica}``."""
        return [{**r, "wire": r["done"] - r["head"]} for r in self.responses.values()
                if r["done"] is not None and r["url"].startswith("http")]  # not data: URLs


def first_visit(chromium, url: str) -> tuple[list[dict], Traffic]:
    ctx = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = ctx.new_page()
        traffic = Traffic(page)
        browser.open_and_time(page, url, timeout_s=120)
        page.wait_for_timeout(1000)  # late chunks (fonts, lazily loaded components)
        assert browser.exceptions_on(page) == []
        return traffic.finished(), traffic
    finally:
        ctx.close()


def size_table(rows: list[dict], base: str) -> str:
    rows = sorted(rows, key=lambda r: -r["wire"])
    lines = [f"{r['wire'] / 1e3:9.1f} kB  {r['decoded'] / 1e3:9.1f} kB raw  {r['encoding'] or '-':5}  "
             f"{r['url'].removeprefix(base)}" for r in rows]
    total = f"{sum(r['wire'] for r in rows) / MB:9.3f} MB  {sum(r['decoded'] for r in rows) / MB:9.3f} MB raw  in all, {len(rows)} responses"
    return "\n".join([total] + lines)


def check_first_visit(chromium, c, path: str) -> None:
    rows, traffic = first_visit(chromium, c.url + path)
    table = size_table(rows, c.url)
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"\W+", "_", path).strip("_") or "home"
    via = "static files from nginx, precompressed" if c.nginx is not None else "static files gzipped by HAProxy"
    (ARTIFACTS / f"first-visit-{name}.txt").write_text(f"first visit of {path} through HAProxy ({via})\n{table}\n")
    print(f"\nfirst visit of {path}:\n{table}")
    # the page, its websocket and its assets all on the replica that served the page, which set the cookie
    (doc,) = [r for r in rows if urlsplit(r["url"]).path == urlsplit(path).path]
    (ws,) = traffic.handshakes
    assert ws["status"] == 101 and ws["replica"] == doc["replica"]
    assert f"{dc.COOKIE}={doc['replica']}" in ws["cookie"], "the browser did not send the sticky cookie on the upgrade"
    # every static file from nginx; the JS as brotli (Chromium sends br to 127.0.0.1, as to any HTTPS origin).
    # Without nginx: from the replicas, gzipped by HAProxy.
    served_by, encoding, ratio = ({"nginx"}, "br", 0.4) if c.nginx is not None else (set(c.names), "gzip", 0.6)
    static = [r for r in rows if urlsplit(r["url"]).path.startswith("/static/")]
    assert static and all(r["replica"] in served_by for r in static), {r["url"]: r["replica"] for r in static}
    js = [r for r in rows if r["url"].endswith(".js") and r["decoded"] > 20_000]
    assert js and all(r["encoding"] == encoding for r in js), {r["url"]: r["encoding"] for r in js}
    assert sum(r["wire"] for r in js) < ratio * sum(r["decoded"] for r in js)
    wire = sum(r["wire"] for r in rows) / MB
    assert wire <= BUDGET_MB, f"a first visit of {path} downloads {wire:.2f} MB, over {BUDGET_MB} MB:\n{table}"


@needs_haproxy
@needs_browser
def test_first_visit_of_home_stays_within_the_download_budget(two, chromium):
    # 1.4 MB with nginx's brotli, 1.9 MB with HAProxy's gzip where nginx is not installed
    check_first_visit(chromium, two, "/")


@needs_haproxy
@needs_nginx
@needs_browser
def test_first_visit_of_a_lesson_stays_within_the_download_budget(two, chromium):
    # plotly's 4.7 MB chunk is 1.06 MB as brotli 11 (2.2 MB with HAProxy's gzip): about 2.4 MB in all
    check_first_visit(chromium, two, LESSON)


@needs_haproxy
@needs_nginx
def test_the_replicas_stand_in_for_a_dead_nginx(two):
    """nginx gone: HAProxy marks it down and sends /static/ to the replicas (its backups), gzipped on the way out,
    as before nginx. (This stops the shared cluster's nginx: the tests after it get their static files this way.)"""
    c = two
    js = plotly_chunk()
    c.nginx.terminate()  # SIGTERM: the master stops its worker too (a SIGKILLed master leaves it serving)
    c.nginx.wait(10)
    t0 = time.monotonic()
    while c.static_status().get("nginx", "").split()[:1] != ["DOWN"]:
        assert time.monotonic() - t0 < 15, c.static_status()
        time.sleep(0.1)
    status, h, body = request(c, f"/static/js/{js.name}", {"Accept-Encoding": "gzip, deflate, br"})
    assert status == 200 and h["x-genlab-replica"] in c.names and h.get("content-encoding") == "gzip"
    assert gzip.decompress(body) == js.read_bytes()


# last in the file: it kills a replica of the shared cluster

# Records every change of the app's connection state and script state, with the browser's clock (ms since epoch)
WATCH_JS = """() => { const app = document.querySelector('[data-testid="stApp"]');
  const now = () => [Date.now(), app.getAttribute('data-test-connection-state'), app.getAttribute('data-test-script-state')];
  window.__states = [now()];
  new MutationObserver(() => { const s = now(), last = window.__states[window.__states.length - 1];
                               if (s[1] !== last[1] || s[2] !== last[2]) window.__states.push(s); })
    .observe(app, {attributes: true}); }"""
RECONNECTED_JS = """() => window.__states.some(s => s[1] !== 'CONNECTED')
                     && window.__states[window.__states.length - 1][1] === 'CONNECTED'"""


def slider(page, label: str):
    return page.locator('[data-testid="stMain"] [data-testid="stSlider"]').filter(has_text=label).first.locator(
        "input[type=range]")


def slider_value(page, label: str) -> str:
    return slider(page, label).input_value()


def nudge(page, label: str) -> None:
    """One step right on the slider, from the keyboard; wait for the rerun to be drawn."""
    browser.change_and_time(page, lambda: (slider(page, label).focus(), page.keyboard.press("ArrowRight")))


@needs_haproxy
@needs_browser
def test_a_killed_replica_costs_its_sessions_a_reconnect_not_their_view(two, chromium):
    c = two
    path = "/bayes?n=50&view=Generate"
    tabs = []
    for i in range(2):  # A on genlab1, B on genlab2: pinned by their sticky cookies
        ctx = chromium.new_context(viewport={"width": 1400, "height": 1000})
        ctx.add_cookies([{"name": dc.COOKIE, "value": c.names[i], "url": c.url}])
        page = ctx.new_page()
        tabs.append((ctx, page, Traffic(page)))
    try:
        for _ctx, page, _traffic in tabs:
            browser.open_and_time(page, c.url + path, timeout_s=120)
        (a_ctx, a, a_net), (b_ctx, b, b_net) = tabs
        assert [t[2].handshakes[0]["replica"] for t in tabs] == c.names
        for page in (a, b):
            assert slider_value(page, "Points per class") == "50"
            assert page.get_by_text("The generative side").count() == 1
            page.evaluate(WATCH_JS)

        t_kill = time.time() * 1000
        c.kill(0)
        down = c.wait_for_status(0, "DOWN", timeout=15)
        # A's frontend notices the closed socket, pings the health endpoint with backoff, and reconnects: HAProxy
        # sends its old cookie to the live replica (redispatch, before the health checks have even marked the dead
        # one down), and sets a new cookie. Streamlit's frontend keeps the page it has drawn; its next rerun (the
        # next widget change) runs in a new session on the live replica, from the URL and the widgets' values.
        a.wait_for_function(RECONNECTED_JS, timeout=45_000, polling=50)
        states = a.evaluate("window.__states")
        lost = next(t for t, conn, _ in states if conn != "CONNECTED")
        back = next(t for t, conn, _ in states if t > lost and conn == "CONNECTED")
        assert len(a_net.handshakes) == 2 and a_net.handshakes[1]["replica"] == c.names[1]
        assert {k["name"]: k["value"] for k in a_ctx.cookies()}[dc.COOKIE] == c.names[1], "cookie not re-pinned"
        assert "n=50" in a.url and "view=Generate" in a.url
        assert slider_value(a, "Points per class") == "50" and a.get_by_text("The generative side").count() == 1
        rerun = browser.change_and_time(a, lambda: (slider(a, "Points per class").focus(), a.keyboard.press("ArrowRight")),
                                        timeout_s=60)
        print(f"\nafter the kill: A lost its socket in {(lost - t_kill) / 1000:.2f} s and was connected again to "
              f"{c.names[1]} after {(back - t_kill) / 1000:.2f} s (HAProxy marked {c.names[0]} down after {down:.2f} s); "
              f"A's first rerun there took {rerun:.2f} s; A's states {[s[1] for s in states]}")
        assert browser.exceptions_on(a) == []
        assert slider_value(a, "Points per class") == "51" and "n=51" in a.url and "view=Generate" in a.url
        assert a.get_by_text("The generative side").count() == 1
        assert len(a_net.handshakes) == 2

        # B never noticed: one socket all along, same replica, and it still works
        assert {conn for _, conn, _ in b.evaluate("window.__states")} == {"CONNECTED"} and len(b_net.handshakes) == 1
        nudge(b, "New (x, y) pairs")
        assert slider_value(b, "New (x, y) pairs") == "70" and "gen=70" in b.url
        assert browser.exceptions_on(b) == [] and {s[1] for s in b.evaluate("window.__states")} == {"CONNECTED"}
        assert c.status()[c.names[1]] == "UP"
    finally:
        for ctx, _, _ in tabs:
            ctx.close()
