"""The deployment files as written (docs/deploy): read and checked here, since no container
runtime runs in CI. What only a running cluster shows is in docs/scaling.md."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def services(prefix: str) -> dict[str, dict]:
    return {name: s for name, s in compose()["services"].items() if name.startswith(prefix)}


def test_images_are_pinned() -> None:
    for name, service in compose()["services"].items():
        image = service.get("image")
        if image:
            tag = image.rsplit(":", 1)[-1].rstrip("}")
            assert ":" in image and tag != "latest" and re.search(r"\d+\.\d+", tag), (name, image)
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"python:3\.11\.\d+", dockerfile)
    assert "torch==2.13.0" in dockerfile and "TORCH_INDEX_URL" in dockerfile


def test_every_qdrant_peer_names_itself_and_is_health_checked() -> None:
    peers = services("qdrant-")
    assert len(peers) == 3
    for name, peer in peers.items():
        command = " ".join(peer["command"])
        assert f"--uri http://{name}:6335" in command, name
        assert peer["healthcheck"]["test"], name
        if name != "qdrant-0":
            assert "--bootstrap http://qdrant-0:6335" in command
            assert peer["depends_on"]["qdrant-0"]["condition"] == "service_healthy"


def test_each_api_replica_talks_to_its_own_node_first_then_to_the_others() -> None:
    apis = {n: s for n, s in services("api-").items()}
    assert len(apis) == 3
    for name, api in apis.items():
        nodes = api["environment"]["QA_QDRANT_URL"].split(",")
        assert nodes[0] == f"http://qdrant-{name[-1]}:6333", name  # its own node first
        assert sorted(nodes) == [f"http://qdrant-{i}:6333" for i in range(3)], name  # then the others
        env = api["environment"]
        assert env["QA_QDRANT_READ_CONSISTENCY"] == "majority"
        assert int(env["QA_QDRANT_WRITE_CONSISTENCY"]) > int(env["QA_QDRANT_REPLICAS"]) // 2
    for name, api in apis.items():
        assert api["healthcheck"]["test"], name
        assert all(d["condition"] == "service_healthy" for d in api["depends_on"].values()), name
        assert "QA_CORPUS" not in api["environment"] and "volumes" not in api, name  # never indexes seeds
        assert api["build"]["target"] == "api"
    nginx = compose()["services"]["nginx"]
    assert all(d["condition"] == "service_healthy" for d in nginx["depends_on"].values())


def test_nginx_drops_idle_connections_before_uvicorn_does() -> None:
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    timeout = re.search(r"keepalive_timeout\s+(\d+)s;", conf)
    assert timeout and int(timeout.group(1)) < 5  # uvicorn: timeout_keep_alive=5 (qa/cli/serve.py)
    assert all(f"server api-{i}:8000" in conf for i in range(3))
    cli = (ROOT / "qa" / "cli" / "serve.py").read_text(encoding="utf-8")
    assert "timeout_keep_alive=5" in cli


def test_nginx_retries_a_question_on_another_replica_but_never_a_write() -> None:
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"location (.*?) \{(.*?)\}", conf, re.S))
    questions = next(body for where, body in blocks.items() if "ask" in where)
    assert "non_idempotent" in questions and re.search(r"location ~ \^/\(ask\|ask/batch\|search\)\$", conf)
    assert "non_idempotent" not in blocks["/"]  # a POST /documents is never sent twice


def test_the_api_image_is_small_unprivileged_and_carries_no_demo_corpus() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    stages = dict(re.findall(r"^FROM \S+ AS (\w+)\n(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S))
    assert {"base", "api", "indexer"} <= set(stages)
    assert '".[qdrant]"' in stages["api"] and "scale" not in stages["api"]  # no Ray in the API
    assert '".[scale]"' in stages["indexer"]
    for stage in ("api", "indexer"):
        assert re.search(r"^USER (?!root)\w+", stages[stage], re.M), stage
    assert not re.search(r"^COPY .*seeds", dockerfile, re.M)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "data", "seeds"} <= set(ignored)


def _pins() -> dict[str, str]:
    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, line  # every line an exact pin
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _requirements(dist: str, extras: set[str], seen: set[str]) -> None:
    """``dist`` and everything it installs with ``extras``, by normalised name, into ``seen``."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    name = re.sub(r"[-_.]+", "-", dist).lower()
    if name in seen:
        return
    seen.add(name)
    try:
        wanted = requires(dist) or []
    except PackageNotFoundError:
        return
    for line in wanted:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
            _requirements(req.name, set(req.extras), seen)


def test_every_package_of_the_images_is_pinned_to_the_tested_version() -> None:
    """Drivers and Ray workers need identical versions, API replicas the ones the suite
    passed with: the images and make install take every version from constraints.txt."""
    from importlib.metadata import version

    pins = _pins()
    needed: set[str] = set()
    _requirements("newsqa", {"qdrant", "scale"}, needed)
    needed.discard("newsqa")
    assert {"qdrant-client", "ray", "torch", "fastapi", "transformers"} <= needed
    missing = sorted(n for n in needed if n not in pins)
    assert not missing, missing
    for name in ("qdrant-client", "ray", "fastapi", "pydantic", "numpy"):  # what this suite ran with
        assert version(name).split("+")[0] == pins[name], name
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("-c constraints.txt") == 2
    assert "-c $(CONSTRAINTS)" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_the_indexer_has_a_ray_cluster_with_token_auth_and_no_dashboard() -> None:
    every = compose()["services"]
    ray = {n: s for n, s in every.items() if n.startswith("ray-")}
    assert set(ray) == {"ray-head", "ray-worker"}
    for name, service in [*ray.items(), ("indexer", every["indexer"])]:
        assert service["profiles"] == ["index"] and service["build"]["target"] == "indexer", name
        assert service["environment"]["RAY_AUTH_MODE"] == "token", name
        assert "RAY_AUTH_TOKEN" in service["environment"], name
        assert "ports" not in service, name
    assert "--include-dashboard=false" in ray["ray-head"]["command"]
    assert "--address=ray-head:6379" in ray["ray-worker"]["command"]


def test_the_tls_layer_encrypts_clients_and_peers_and_publishes_no_qdrant_port() -> None:
    tls = yaml.safe_load((DEPLOY / "compose.tls.yaml").read_text(encoding="utf-8"))["services"]
    for i in range(3):
        peer = tls[f"qdrant-{i}"]
        env = peer["environment"]
        assert env["QDRANT__SERVICE__ENABLE_TLS"] == env["QDRANT__CLUSTER__P2P__ENABLE_TLS"] == "true"
        assert env["QDRANT__SERVICE__API_KEY"] and env["QDRANT__TLS__CA_CERT"]
        assert f"--uri https://qdrant-{i}:6335" in " ".join(peer["command"])
        api = tls[f"api-{i}"]["environment"]
        assert all(u.startswith("https://") for u in api["QA_QDRANT_URL"].split(","))
        assert api["SSL_CERT_FILE"] == "/tls/ca.pem"
    for name, service in compose()["services"].items():
        published = " ".join(str(p) for p in service.get("ports", []))
        assert "6333" not in published and "6335" not in published, name
