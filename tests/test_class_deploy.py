"""Class mode across replicas: a teacher on one replica, a student on the other, one Redis between them.

A real two-replica cluster behind HAProxy with its Redis (``deploy/cluster.py``, loopback only); two protocol
clients (``tests/stclient.py``) pinned by HAProxy's sticky cookie, the teacher to ``genlab1`` and the student to
``genlab2``. The student's poll fragment is ticked as a browser ticks it (``run_every``, once a second) until
the student's page shows the teacher's page and step; then the teacher asks the step's question, the student
answers on the other replica, and the teacher's store and screen see the answer. Behaviour only: the time-outs
are generous, no timing is asserted. Also: the Kubernetes manifests of the class store validate (the manifest
test in test_deploy.py keys objects by kind, so it sees only one Deployment and one Service).
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml

from bench.bench_follow import FollowClient
from core import classroom as cr
from core import questions as qs
from deploy import cluster as dc

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
PAGE, STEP = "gan", 3  # where the teacher takes the class first (a step without a question)
TICK_S = 1.0  # core.class_ui.POLL_S: a following student's browser reruns its poll fragment this often
FOLLOW_TIMEOUT_S = 30.0

needs_haproxy = pytest.mark.skipif(dc.haproxy_path() is None,
                                   reason="haproxy is not installed (apt-get install haproxy; .ci/run does)")
needs_redis = pytest.mark.skipif(dc.redis_path() is None,
                                 reason="redis-server is not installed (apt-get install redis-server; .ci/run does)")


# ---- the manifests (no cluster needed)

def k8s_objects() -> list[dict]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_the_class_store_manifests_validate_and_genlab_pods_point_at_it():
    import kubernetes_validate

    objs = {(o["kind"], o["metadata"]["name"]): o for o in k8s_objects() if o["kind"] != "Kustomization"}
    redis_dep, redis_svc = objs[("Deployment", "genlab-redis")], objs[("Service", "genlab-redis")]
    for key in [("Deployment", "genlab-redis"), ("Service", "genlab-redis"), ("NetworkPolicy", "genlab-redis")]:
        kubernetes_validate.validate(objs[key], kubernetes_validate.latest_version(), strict=True)
    pod = redis_dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no", "no persistence"
    assert {"cpu", "memory"} <= set(c["resources"]["limits"]) and {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert redis_dep["spec"]["replicas"] == 1 and redis_dep["spec"]["strategy"]["type"] == "Recreate"
    labels = redis_dep["spec"]["template"]["metadata"]["labels"]
    assert redis_svc["spec"]["selector"].items() <= labels.items()
    genlab = objs[("Deployment", "genlab")]
    # the GenLab Service, PDB and HPA must not take the Redis pod for a GenLab pod
    assert not objs[("Service", "genlab")]["spec"]["selector"].items() <= labels.items()
    (g,) = genlab["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in g["env"]}
    (port,) = [p["port"] for p in redis_svc["spec"]["ports"]]
    assert env["GENLAB_REDIS_URL"] == f"redis://{redis_svc['metadata']['name']}:{port}/0"
    # only GenLab's pods may connect to the password-less Redis
    (rule,) = objs[("NetworkPolicy", "genlab-redis")]["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"].items() <= genlab["spec"]["template"]["metadata"]["labels"].items()


def test_compose_replicas_use_the_redis_service():
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    redis = services["redis"]
    cmd = redis["command"]
    assert cmd[cmd.index("--save") + 1] == "" and cmd[cmd.index("--appendonly") + 1] == "no"
    for name in [n for n in services if re.fullmatch(r"genlab\d+", n)]:
        s = services[name]
        assert s["environment"]["GENLAB_REDIS_URL"] == "redis://redis:6379/0"
        assert s["depends_on"]["redis"]["condition"] == "service_healthy"


# ---- a real cluster: teacher and student on different replicas

def haproxy_sessions(c: dc.Cluster) -> dict[str, int]:
    """Current sessions (HAProxy's ``scur``) per replica of the genlab backend: open WebSockets, mostly."""
    return {r["svname"]: int(r["scur"] or 0) for r in c.show_stat() if r["pxname"] == "genlab" and r["svname"] in c.names}


def texts(c: FollowClient) -> str:
    return c.text()


def step_shown(c: FollowClient) -> str | None:
    return c.step()


def tick_until(student: FollowClient, done, what: str, timeout: float = FOLLOW_TIMEOUT_S) -> int:
    """Tick the student's poll fragment once a second, as the browser's ``run_every`` timer does, until ``done()``;
    return the ticks. (The poll's fragment id changes when the class bar's layout does: FollowClient keeps the
    timers the last full run registered, as the frontend does.)"""
    deadline = time.monotonic() + timeout
    ticks = 0
    while not done():
        assert time.monotonic() < deadline, f"the student's page did not show {what} within {timeout:.0f} s " \
                                            f"(page {student.path!r}, step {step_shown(student)!r}):\n{texts(student)}"
        time.sleep(TICK_S)
        r = student.tick(timeout=60)
        assert r.ok, r.summary()
        ticks += 1
    return ticks


@needs_haproxy
@needs_redis
@pytest.mark.timeout(240)
def test_a_student_on_another_replica_follows_the_teacher_and_answers():
    with dc.cluster(replicas=2, port=None, timeout=180) as c:
        assert c.redis is not None and c.redis_url and dc.redis_ping(int(c.redis_url.rsplit(":", 1)[1].split("/")[0]))
        teacher = FollowClient(c.url, timeout=120, cookie={dc.COOKIE: c.names[0]})
        student = FollowClient(c.url, timeout=120, cookie={dc.COOKIE: c.names[1]})
        try:
            # the teacher opens a class on the home page
            r = teacher.open("")
            assert r.ok, r.summary()
            r = teacher.click("genlab_class_open")
            assert r.ok, r.summary()
            pretty = parse_qs(teacher.query_string)["class"][0]
            code = cr.normalize_code(pretty)
            (lead,) = [t for t in teacher.texts() if "lead=" in t]  # the lead link, in the home page's expander
            token = parse_qs(lead.split("?", 1)[1])["lead"][0].strip()
            store = cr.Classroom(cr.RedisBackend(c.redis_url))
            assert store.is_teacher(code, token), "the class is not in the cluster's Redis"

            # the student opens the join link, on the other replica
            r = student.open("", f"class={pretty}")
            assert r.ok, r.summary()
            assert "Following your teacher" in texts(student), texts(student)
            assert student.poll_id is not None, f"no 1-s poll fragment: {student.auto_reruns}"
            sessions = haproxy_sessions(c)
            assert sessions[c.names[0]] >= 1 and sessions[c.names[1]] >= 1, \
                f"teacher and student are not on different replicas: {sessions}"

            # the teacher moves to the GAN page, walkthrough on, step 3; the student follows by its poll alone
            for action in (lambda: teacher.navigate(PAGE), lambda: teacher.set_widget("walkthrough", True)):
                r = action()
                assert r.ok, r.summary()
            titles = teacher.widget("step").options
            r = teacher.set_widget("step", titles[STEP - 1])
            assert r.ok, r.summary()
            tick_until(student, lambda: student.path == PAGE and step_shown(student) == titles[STEP - 1],
                       f"the teacher's step {titles[STEP - 1]!r} on /{PAGE}")
            assert "Following your teacher" in texts(student)

            # the teacher goes on to the step with a question and asks it
            q = next(q for q in qs.QUESTIONS if q.page == PAGE and q.kind == "number")
            r = teacher.set_widget("step", titles[q.step - 1])
            assert r.ok, r.summary()
            r = teacher.click("genlab_class_ask")
            assert r.ok, r.summary()
            assert store.question(code).id == q.id

            def asked() -> bool:
                return step_shown(student) == titles[q.step - 1] and bool(student.find_all("Your answer"))

            tick_until(student, asked, f"the question {q.id!r} at step {q.step}")
            assert any(q.prompt[:40] in t for t in student.texts()), texts(student)

            # the student answers on genlab2; the teacher's store (and screen, on genlab1) sees the answer
            assert student.set_widget("Your answer", float(q.answer)).status == "no_rerun"  # in the form
            r = student.click("Send")
            assert r.ok, r.summary()
            assert f"Your answer: {q.label(q.parse(q.answer))}" in texts(student), texts(student)
            assert store.results(code, token, q.id) == {"student 1": q.parse(q.answer)}
            r = teacher.rerun()
            assert r.ok, r.summary()
            assert "1 answered" in texts(teacher), texts(teacher)
            assert "**1** following now" in texts(teacher), texts(teacher)

            # the teacher reveals; the student's next ticks show the right answer and that theirs was right
            r = teacher.click("genlab_class_reveal")
            assert r.ok, r.summary()
            tick_until(student, lambda: "Your answer was right" in texts(student), "the revealed answer")
        finally:
            teacher.close()
            student.close()
