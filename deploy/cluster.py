"""N GenLab replicas on one machine behind HAProxy, their static files from nginx: one command, or a context manager.

One Streamlit process runs its Python on one core (the GIL), so a class on a many-core machine is served by
several processes behind a balancer that keeps each browser on its replica (see ``deploy/haproxy.cfg`` for
the balancer's settings and why HAProxy). Streamlit's static files (``/static/...``: the JS bundles, CSS and
fonts a first visit downloads) come from nginx instead (``deploy/nginx.conf``): copies compressed once, ahead
of time, with brotli 11 and gzip -9 (``deploy/precompress.py``), far smaller than HAProxy's on-the-fly gzip, and
none of that traffic reaches the Python processes, whose GIL then only runs scripts. Without nginx installed,
the replicas serve those files as before and HAProxy gzips them (a note on stderr says so).

Class mode (``core/classroom.py``) keeps a class in one store that every replica must see: with more than one
replica the cluster starts Debian's ``redis-server`` on a free 127.0.0.1 port, in memory only (``--save ''
--appendonly no``: a class lives for its lesson, nothing is written to disk), and gives every replica its address
as ``GENLAB_REDIS_URL``. Without it a student whose browser HAProxy pins to another replica than the teacher's
would find no class. A ``GENLAB_REDIS_URL`` already in the environment (a Redis of your own) is used instead of
starting one; ``--no-redis`` (``redis=False``) starts none.

Command line (``make serve REPLICAS=2`` runs the first)::

    python -m deploy.cluster --replicas 2 --port 8501            # http://127.0.0.1:8501, Ctrl-C stops all
    python -m deploy.cluster --replicas 4 --host 0.0.0.0         # the balancer on every interface (a class on the LAN)
    python -m deploy.cluster --no-nginx                          # /static/ from the replicas, gzipped by HAProxy
    python -m deploy.cluster --replicas 2 --no-redis             # no shared class store (class mode per replica)

Library (the load bench and the tests)::

    from deploy.cluster import cluster

    with cluster(replicas=2, port=None) as c:    # port=None: a free port
        c.url                   # 'http://127.0.0.1:PORT', the balancer
        c.replicas              # [(port, Popen), ...], one Streamlit process each, on 127.0.0.1
        c.names                 # ['genlab1', 'genlab2']: HAProxy's server names = the sticky cookie's values
        c.haproxy               # the HAProxy Popen (run in the foreground, -db)
        c.nginx                 # the nginx Popen (foreground), or None: no nginx, the replicas serve /static/
        c.nginx_port, c.static_dir   # nginx on 127.0.0.1:nginx_port, serving static_dir (.cache/static-<version>)
        c.kill(0)               # SIGKILL replica 0 (a crash); HAProxy sends its browsers to a live one
        c.wait_for_status(0, "DOWN")   # until HAProxy's health checks mark it down (about 2 s)
        c.status()              # {'genlab1': 'DOWN', 'genlab2': 'UP'}
        c.static_status()       # {'nginx': 'UP', 'genlab1': 'DOWN', 'genlab2': 'UP'}: the replicas are nginx's backups
        c.redis_url             # 'redis://127.0.0.1:PORT/0', every replica's GENLAB_REDIS_URL (None: no shared store)
        c.redis                 # the redis-server Popen we started, or None (none, or the environment's own Redis)
    # on exit (or an exception) HAProxy, nginx, Redis and every replica are stopped

A browser pinned to replica ``i``: the cookie ``SERVERID=c.names[i]`` (``COOKIE``). Every replica gets the
same ``STREAMLIT_SERVER_COOKIE_SECRET`` (the caller's, else the environment's, else one made per start), so
cookies signed by one replica are accepted by the others. The generated configs and one log per process
(``replica-<i>.log``, ``nginx.log``, ``redis.log``, ``haproxy.log``; nginx's pid file and temporary folders too) lie in
``.cache/cluster-<port>/``. Loopback only unless ``host`` says otherwise; the replicas and nginx always listen
on 127.0.0.1. nginx runs as the user who started the cluster.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "haproxy.cfg"
NGINX_TEMPLATE = Path(__file__).resolve().parent / "nginx.conf"
BROTLI_MODULE = "ngx_http_brotli_static_module.so"  # Debian's libnginx-mod-http-brotli-static
COOKIE = "SERVERID"  # the sticky cookie HAProxy inserts (deploy/haproxy.cfg: `cookie SERVERID insert ...`)
HEALTH = "/_stcore/health"


def haproxy_path() -> str | None:
    """HAProxy's binary: ``$GENLAB_HAPROXY`` if set (None if that is not an executable), else ``haproxy`` on PATH,
    else Debian's /usr/sbin/haproxy (not on a non-root user's PATH); None if there is none."""
    if os.environ.get("GENLAB_HAPROXY"):
        return shutil.which(os.environ["GENLAB_HAPROXY"])
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")


def nginx_path() -> str | None:
    """nginx's binary: ``$GENLAB_NGINX`` if set (None if that is not an executable), else ``nginx`` on PATH, else
    Debian's /usr/sbin/nginx; None if there is none."""
    if os.environ.get("GENLAB_NGINX"):
        return shutil.which(os.environ["GENLAB_NGINX"])
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


def redis_path() -> str | None:
    """Redis's server binary: ``$GENLAB_REDIS_SERVER`` if set (None if that is not an executable), else
    ``redis-server`` on PATH, else Debian's /usr/bin/redis-server; None if there is none."""
    if os.environ.get("GENLAB_REDIS_SERVER"):
        return shutil.which(os.environ["GENLAB_REDIS_SERVER"])
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/local/bin")


def redis_ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether a Redis answers PING on ``host:port`` (a raw RESP exchange: no client library needed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def nginx_brotli_module(binary: str | None = None) -> Path | None:
    """The brotli_static module's file for this nginx (in its ``--modules-path``, as ``nginx -V`` says; Debian's is
    /usr/lib/nginx/modules), or None if it is not installed."""
    binary = binary or nginx_path()
    if binary is None:
        return None
    try:
        info = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10, check=False).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    dirs = [a.split("=", 1)[1] for a in info.split() if a.startswith("--modules-path=")]
    for d in dirs + ["/usr/lib/nginx/modules", "/usr/lib64/nginx/modules", "/usr/local/nginx/modules"]:
        if (Path(d) / BROTLI_MODULE).is_file():
            return Path(d) / BROTLI_MODULE
    return None


def nginx_config(port: int, root: str | Path, workdir: str | Path, *, brotli_module: str | Path | None = None,
                 host: str = "127.0.0.1") -> str:
    """``deploy/nginx.conf`` for a cluster: listens on ``host:port``, serves ``root`` (a ``deploy.precompress``
    folder), keeps its pid and temporary files in ``workdir``, runs as the current user (``user`` names it when
    started as root; otherwise nginx cannot switch users and the line is dropped). ``brotli_module``: the
    module's file (``nginx_brotli_module()``); None drops ``load_module`` and ``brotli_static`` (gzip only)."""
    import grp
    import pwd

    workdir = Path(workdir)
    temp = {"client_body_temp_path": "body", "proxy_temp_path": "proxy", "fastcgi_temp_path": "fastcgi",
            "uwsgi_temp_path": "uwsgi", "scgi_temp_path": "scgi"}
    out = []
    for line in NGINX_TEMPLATE.read_text().splitlines():
        word = line.split(None, 1)[0] if line.strip() else ""
        indent = line[: len(line) - len(line.lstrip())]
        if word == "load_module":
            if brotli_module:
                out.append(f'{indent}load_module "{brotli_module}";')
        elif word == "brotli_static" and not brotli_module:
            continue
        elif word == "user":
            if os.geteuid() == 0:
                out.append(f"{indent}user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};")
        elif word == "pid":
            out.append(f'{indent}pid "{workdir / "nginx.pid"}";')
        elif word in temp:
            out.append(f'{indent}{word} "{workdir / "nginx-temp" / temp[word]}";')
        elif word == "listen":
            out.append(f"{indent}listen {host}:{port};")
        elif word == "root":
            out.append(f'{indent}root "{Path(root).resolve()}";')
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def haproxy_config(port: int, servers: list[tuple[str, str, int]], *, host: str = "127.0.0.1",
                   stats_socket: str | Path | None = None, static: tuple[str, int] | None = None) -> str:
    """``deploy/haproxy.cfg`` for these ``servers`` ``[(name, address, port), ...]``: its ``bind`` line listens on
    ``host:port`` and the ``server`` lines of its ``genlab`` backend are replaced by one per server (cookie value =
    name). ``static``: nginx's ``(address, port)``; the ``static`` backend then has it as its server and the
    replicas as backups. Without ``static`` the ``use_backend static`` line and the static backend are dropped,
    so the replicas serve ``/static/`` too (HAProxy gzips it). Everything else (stickiness, timeouts, compression,
    health checks) is the template's. ``stats_socket`` adds HAProxy's runtime API on a Unix socket (``status()``
    reads it)."""
    out, placed, section = [], set(), ""
    for line in TEMPLATE.read_text().splitlines():
        word = line.split(None, 1)[0] if line.strip() else ""
        indent = line[: len(line) - len(line.lstrip())]
        if line.strip() and not indent and not line.lstrip().startswith("#"):
            section = " ".join(line.split()[:2])  # 'global', 'defaults', 'frontend genlab', 'backend static' ...
        if static is None and section == "backend static":
            continue
        if word == "bind":
            out.append(f"{indent}bind {host}:{port}")
        elif word == "use_backend" and "static" in line.split() and static is None:
            continue
        elif word == "server":
            if section in placed:
                continue
            placed.add(section)
            if section == "backend static":
                out.append(f"{indent}server nginx {static[0]}:{static[1]}")
                out += [f"{indent}server {name} {address}:{p} backup" for name, address, p in servers]
            else:
                out += [f"{indent}server {name} {address}:{p} cookie {name}" for name, address, p in servers]
        else:
            out.append(line)
            if word == "global" and stats_socket:
                out.append(f"    stats socket {stats_socket} mode 600 level admin")
    if "backend genlab" not in placed:
        raise ValueError(f"{TEMPLATE} has no `server` lines to replace in its genlab backend")
    if static is not None and "backend static" not in placed:
        raise ValueError(f"{TEMPLATE} has no static backend with a `server` line")
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n"


def _get(url: str, timeout: float = 2) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except OSError:
        return None


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@dataclass
class Cluster:
    """A running cluster (see the module's docstring). ``replicas[i]`` is served by HAProxy as ``names[i]``."""
    url: str
    port: int
    replicas: list[tuple[int, subprocess.Popen]]
    haproxy: subprocess.Popen
    names: list[str]
    cookie_secret: str
    workdir: Path
    config_path: Path
    stats_socket: Path | None = None
    logs: list[Path] = field(default_factory=list)
    nginx: subprocess.Popen | None = None  # None: no nginx, the replicas serve /static/ (HAProxy gzips it)
    nginx_port: int | None = None
    static_dir: Path | None = None  # nginx's root (deploy.precompress's folder)
    nginx_config_path: Path | None = None
    redis_url: str | None = None  # every replica's GENLAB_REDIS_URL; None: each replica keeps its own classes
    redis: subprocess.Popen | None = None  # the redis-server started for this cluster (None: none, or an outside one)

    def replica_url(self, i: int) -> str:
        """Replica ``i`` directly, bypassing the balancer."""
        return f"http://127.0.0.1:{self.replicas[i][0]}"

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Stop replica ``i`` with ``sig`` (default SIGKILL: a crash, no goodbye to its browsers) and reap it."""
        proc = self.replicas[i][1]
        if proc.poll() is None:
            proc.send_signal(sig)
        proc.wait(30)

    def show_stat(self) -> list[dict[str, str]]:
        """HAProxy's runtime ``show stat``: one dict per proxy/server row, keyed by its CSV header
        (``pxname``, ``svname``, ``scur`` current sessions, ``status``...)."""
        if self.stats_socket is None:
            raise RuntimeError("no stats socket")
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.stats_socket))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        head = lines[0].lstrip("# ").split(",")
        return [dict(zip(head, line.split(","))) for line in lines[1:] if line and not line.startswith("#")]

    def _stats(self, backend: str) -> dict[str, str]:
        """``{server name: status}`` of one HAProxy backend."""
        return {r["svname"]: r["status"] for r in self.show_stat()
                if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")}

    def status(self) -> dict[str, str]:
        """HAProxy's view of each replica: ``{name: 'UP' | 'DOWN' | 'UP 1/2' | 'DOWN 1/2' | 'MAINT' ...}``."""
        return {n: st for n, st in self._stats("genlab").items() if n in self.names}

    def static_status(self) -> dict[str, str]:
        """HAProxy's view of the static backend: ``{'nginx': 'UP', 'genlab1': 'UP', ...}`` (the replicas stand in
        for nginx as backups); ``{}`` without nginx."""
        return self._stats("static") if self.nginx is not None else {}

    def wait_for_status(self, i: int, state: str, timeout: float = 15) -> float:
        """Wait until HAProxy reports replica ``i`` as exactly ``state`` ('UP' or 'DOWN'); return the seconds taken."""
        t0 = time.monotonic()
        while (now := self.status().get(self.names[i])) != state:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{self.names[i]} still {now!r} after {timeout} s, not {state!r}")
            time.sleep(0.1)
        return time.monotonic() - t0


def _stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def _start_redis(binary: str, port: int, workdir: Path, log_path: Path) -> tuple[subprocess.Popen, int]:
    """redis-server in the foreground on 127.0.0.1:``port``, in memory only, once it answers PING:
    ``(process, port)``. Another free port if the chosen one was taken meanwhile."""
    def start(port):
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes", "--daemonize", "no",
               "--save", "", "--appendonly", "no", "--dir", str(workdir), "--logfile", ""]
        with open(log_path, "w") as log:
            return subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    return _start_until_up("redis-server", start, redis_ping, port, log_path)


def _start_until_up(name: str, start, ready, port: int, log_path: Path) -> tuple[subprocess.Popen, int]:
    """``start(port)`` a server and wait (15 s) until ``ready(port)``: ``(process, port)``. A port taken meanwhile
    ("Address already in use" in its log) is replaced by another free one, twice at most; any other failure raises
    with the log's tail."""
    for attempt in range(3):
        proc = start(port)
        deadline = time.monotonic() + 15
        while not ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return proc, port
        _stop(proc)
        if not ("Address already in use" in _tail(log_path) and attempt < 2):
            raise RuntimeError(f"{name} did not come up on 127.0.0.1:{port} (exit code {proc.poll()}):\n"
                               f"{_tail(log_path)}")
        port = free_ports(1)[0]
    raise AssertionError("unreachable")


def _start_nginx(binary: str, port: int, root: Path, workdir: Path, module: Path | None,
                 log_path: Path) -> tuple[subprocess.Popen, int, Path]:
    """nginx in the foreground on 127.0.0.1:``port`` serving ``root``, once it answers its health location:
    ``(process, port, config path)``. Another free port if the chosen one was taken meanwhile."""
    config = workdir / "nginx.conf"
    (workdir / "nginx-temp").mkdir(exist_ok=True)

    def start(port):
        config.write_text(nginx_config(port, root, workdir, brotli_module=module))
        with open(log_path, "w") as log:
            return subprocess.Popen([binary, "-c", str(config), "-g", "daemon off;"], cwd=workdir,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    proc, port = _start_until_up("nginx", start, lambda p: _get(f"http://127.0.0.1:{p}{HEALTH}") == 200, port,
                                 log_path)
    return proc, port, config


@contextlib.contextmanager
def cluster(replicas: int = 2, port: int | None = None, *, host: str = "127.0.0.1", cookie_secret: str | None = None,
            env: dict | None = None, threads: int | None = None, timeout: float = 120, quiet: bool = True,
            nginx: bool = True, static_dir: str | Path | None = None, redis: bool | None = None):
    """Start ``replicas`` GenLab processes on 127.0.0.1, nginx for their static files, and HAProxy on ``host:port``
    in front of them; yield a ``Cluster`` once every replica answers its health check and the balancer answers too;
    stop everything on exit.

    ``port``: the balancer's (None: a free one). ``cookie_secret``: shared by all replicas (default: the
    environment's ``STREAMLIT_SERVER_COOKIE_SECRET``, else a random one for this start). ``env``: extra
    environment for the replicas. ``threads``: torch/OpenMP threads per replica (``OMP_NUM_THREADS``; default:
    the cores divided among the replicas, at least 1, unless ``env`` or the environment sets it). ``timeout``:
    seconds for all replicas to come up. ``quiet``: HAProxy's request log to its file only (else also stdout).
    ``nginx``: serve ``/static/`` from nginx (precompressed brotli and gzip copies made by ``deploy.precompress``
    into ``static_dir``, default ``.cache/static-<streamlit version>``, on the first start of a Streamlit version:
    about a minute, while the replicas start). Where nginx is not installed (or does not start) the replicas serve
    ``/static/`` as before, gzipped by HAProxy, with a note on stderr; ``nginx=False`` asks for that.
    ``redis``: start a ``redis-server`` (in memory only, 127.0.0.1) and give every replica its address as
    ``GENLAB_REDIS_URL``, so that class mode's teacher and students meet whichever replica serves them. Default
    (None): when ``replicas > 1``, unless ``env`` or the environment already sets ``GENLAB_REDIS_URL`` (then that
    Redis is used); where redis-server is not installed a note on stderr says that a class then lives on one
    replica only. ``True``: always start one (an error if it cannot be); ``False``: never.
    """
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    binary = haproxy_path()
    if binary is None:
        raise RuntimeError("haproxy not found: install it (apt-get install haproxy) or set GENLAB_HAPROXY")
    nginx_bin = nginx_path() if nginx else None
    if nginx and nginx_bin is None:
        _note("nginx is not installed, so the replicas serve /static/ themselves and HAProxy gzips it (libslz): "
              "larger downloads (a lesson's first visit about 4 MB instead of 2.4 MB) and more work for the Python "
              "processes. apt-get install nginx libnginx-mod-http-brotli-static (or set GENLAB_NGINX) to serve "
              "them precompressed.")
    module = nginx_brotli_module(nginx_bin) if nginx_bin else None
    if nginx_bin and module is None:
        _note(f"nginx has no brotli_static module ({BROTLI_MODULE}; apt-get install libnginx-mod-http-brotli-static): "
              "static files are served as gzip -9 only.")
    outside_redis = (env or {}).get("GENLAB_REDIS_URL") or os.environ.get("GENLAB_REDIS_URL")
    redis_bin = None
    if redis or (redis is None and replicas > 1 and not outside_redis):
        redis_bin = redis_path()
        if redis_bin is None:
            if redis:
                raise RuntimeError("redis-server not found: install it (apt-get install redis-server), set "
                                   "GENLAB_REDIS_SERVER, or pass redis=False")
            _note("redis-server is not installed, so each replica keeps its own classes: a student pinned to another "
                  "replica than the teacher's finds no class. apt-get install redis-server (or set GENLAB_REDIS_URL "
                  "to a Redis) for class mode across replicas.")
    auto_port = port is None
    ports = free_ports(replicas + auto_port + 2)
    port = port or ports.pop()
    nginx_port = ports.pop()
    redis_port = ports.pop()
    secret = cookie_secret or os.environ.get("STREAMLIT_SERVER_COOKIE_SECRET") or secrets.token_hex(32)
    names = [f"genlab{i + 1}" for i in range(replicas)]
    workdir = ROOT / ".cache" / f"cluster-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "haproxy.sock"
    if len(str(sock)) > 100:  # a Unix socket's path is limited to 108 bytes
        sock = Path(tempfile.mkdtemp(prefix="genlab-haproxy-")) / "haproxy.sock"
    sock.unlink(missing_ok=True)

    renv = {**os.environ, **(env or {}), "STREAMLIT_SERVER_COOKIE_SECRET": secret}
    if threads is not None:
        renv["OMP_NUM_THREADS"] = str(threads)
    elif "OMP_NUM_THREADS" not in renv:
        renv["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // replicas))

    procs: list[tuple[int, subprocess.Popen]] = []
    logs: list[Path] = []
    haproxy = ngx = redis_proc = None
    static_root = nginx_config_path = None
    redis_url = renv.get("GENLAB_REDIS_URL") or None
    try:
        if redis_bin:  # before the replicas: each makes its class store from GENLAB_REDIS_URL on first use
            redis_proc, redis_port = _start_redis(redis_bin, redis_port, workdir, workdir / "redis.log")
            redis_url = renv["GENLAB_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        for i, p in enumerate(ports):
            logs.append(workdir / f"replica-{i}.log")
            cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.address", "127.0.0.1",
                   "--server.port", str(p), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
            with open(logs[-1], "w") as log:
                procs.append((p, subprocess.Popen(cmd, cwd=ROOT, env=renv, stdout=log, stderr=subprocess.STDOUT)))

        if nginx_bin:  # while the replicas import torch: the compressed copies (at once if made before), then nginx
            from deploy.precompress import default_outdir, precompress

            logs.append(workdir / "nginx.log")
            try:
                static_root = Path(static_dir) if static_dir else default_outdir()
                precompress(static_root, brotli=module is not None, log=lambda m: print(m, flush=True))
                ngx, nginx_port, nginx_config_path = _start_nginx(nginx_bin, nginx_port, static_root, workdir, module,
                                                                  logs[-1])
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                _note(f"nginx could not serve the static files, so the replicas do (HAProxy gzips them): {e}")
                ngx = static_root = nginx_config_path = None

        deadline = time.monotonic() + timeout
        pending = dict(enumerate(procs))
        while pending:
            for i, (p, proc) in list(pending.items()):
                if _get(f"http://127.0.0.1:{p}{HEALTH}") == 200:
                    del pending[i]
                elif proc.poll() is not None:
                    raise RuntimeError(f"replica {i} (port {p}) exited with {proc.returncode}:\n{_tail(logs[i])}")
            if redis_proc is not None and redis_proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {redis_proc.returncode}:\n{_tail(workdir / 'redis.log')}")
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"replicas {sorted(pending)} not healthy after {timeout} s")
            time.sleep(0.25)

        if redis_proc is not None:
            logs.append(workdir / "redis.log")
        config = workdir / "haproxy.cfg"
        logs.append(workdir / "haproxy.log")
        static = ("127.0.0.1", nginx_port) if ngx is not None else None
        for attempt in range(3):  # a port chosen here may be taken by another program before HAProxy binds it
            config.write_text(haproxy_config(port, [(n, "127.0.0.1", p) for n, (p, _) in zip(names, procs)],
                                             host=host, stats_socket=sock, static=static))
            with open(logs[-1], "w") as log:
                haproxy = subprocess.Popen([binary, "-f", str(config), "-db"], cwd=workdir, stdin=subprocess.DEVNULL,
                                           stdout=log if quiet else None, stderr=subprocess.STDOUT)
            url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '*', '') else host}:{port}"
            deadline = time.monotonic() + 15
            while _get(url + HEALTH) != 200:
                if haproxy.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            else:
                break
            _stop(haproxy)
            if not (auto_port and "Address already in use" in _tail(logs[-1]) and attempt < 2):
                raise RuntimeError(f"haproxy did not come up on {url} (exit code {haproxy.poll()}):\n{_tail(logs[-1])}")
            port = free_ports(1)[0]
        yield Cluster(url=url, port=port, replicas=procs, haproxy=haproxy, names=names, cookie_secret=secret,
                      workdir=workdir, config_path=config, stats_socket=sock, logs=logs, nginx=ngx,
                      nginx_port=nginx_port if ngx is not None else None, static_dir=static_root,
                      nginx_config_path=nginx_config_path, redis_url=redis_url, redis=redis_proc)
    finally:
        if haproxy is not None:
            _stop(haproxy)
        if ngx is not None:
            _stop(ngx)
        for _, proc in procs:  # SIGTERM to all first: they shut down side by side
            if proc.poll() is None:
                proc.terminate()
        for _, proc in procs:
            _stop(proc)
        if redis_proc is not None:  # after the replicas: none of them loses its store while shutting down
            _stop(redis_proc)
        sock.unlink(missing_ok=True)
        if sock.parent != workdir:
            shutil.rmtree(sock.parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Serve GenLab as N replicas behind HAProxy on this machine.")
    ap.add_argument("--replicas", type=int, default=2, help="Streamlit processes (about one per core; default 2)")
    ap.add_argument("--port", type=int, default=8501, help="the balancer's port (default 8501)")
    ap.add_argument("--host", default="127.0.0.1", help="the balancer's address (default loopback; 0.0.0.0 for a LAN)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per replica (default: cores / replicas)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds for the replicas to start")
    ap.add_argument("--no-nginx", action="store_true",
                    help="/static/ from the replicas (gzipped by HAProxy), not from nginx (precompressed brotli/gzip)")
    ap.add_argument("--no-redis", action="store_true",
                    help="start no Redis: each replica keeps its own classes (default: one Redis when replicas > 1, "
                         "unless GENLAB_REDIS_URL names one)")
    a = ap.parse_args(argv)
    # SIGTERM (docker stop, systemd, kill) stops the cluster as Ctrl-C does: through cluster()'s cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with cluster(a.replicas, a.port, host=a.host, threads=a.threads, timeout=a.timeout,
                     nginx=not a.no_nginx, redis=False if a.no_redis else None) as c:
            print(f"GenLab on {c.url} (HAProxy listening on {a.host}:{c.port}), {len(c.replicas)} replicas:", flush=True)
            for name, (p, proc) in zip(c.names, c.replicas):
                print(f"  {name}: http://127.0.0.1:{p} (pid {proc.pid})", flush=True)
            if c.nginx is not None:
                print(f"  /static/: nginx on http://127.0.0.1:{c.nginx_port} (pid {c.nginx.pid}), precompressed files "
                      f"from {c.static_dir}", flush=True)
            else:
                print("  /static/: from the replicas, gzipped by HAProxy", flush=True)
            if c.redis is not None:
                print(f"  class store: Redis on {c.redis_url} (pid {c.redis.pid}, in memory only)", flush=True)
            elif c.redis_url:
                print(f"  class store: Redis at {c.redis_url} (GENLAB_REDIS_URL)", flush=True)
            else:
                print("  class store: in each replica's memory (a class lives on one replica)", flush=True)
            print(f"  config and logs: {c.workdir}\nCtrl-C stops them all.", flush=True)
            reported: set[int | str] = set()
            nginx_reported = False
            while c.haproxy.poll() is None:
                if c.nginx is not None and c.nginx.poll() is not None and not nginx_reported:
                    nginx_reported = True
                    print(f"nginx exited with {c.nginx.returncode}; the replicas serve /static/ now "
                          f"(log: {c.workdir / 'nginx.log'})", file=sys.stderr, flush=True)
                for i, (p, proc) in enumerate(c.replicas):
                    if proc.poll() is not None and i not in reported:
                        reported.add(i)
                        print(f"{c.names[i]} (port {p}) exited with {proc.returncode}; the others keep serving "
                              f"(log: {c.logs[i]})", file=sys.stderr, flush=True)
                if c.redis is not None and c.redis.poll() is not None and "redis" not in reported:
                    reported.add("redis")
                    print(f"redis-server exited with {c.redis.returncode}: class mode fails until it is back "
                          f"(log: {c.workdir / 'redis.log'})", file=sys.stderr, flush=True)
                if len(reported - {"redis"}) == len(c.replicas):
                    print("every replica has exited", file=sys.stderr)
                    return 1
                time.sleep(1)
            print(f"haproxy exited with {c.haproxy.returncode} (log: {c.logs[-1]})", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
