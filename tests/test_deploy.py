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
    assert timeout and int(timeout.group(1)) < 5  # uvicorn: timeout_keep_alive=5 (qa/cli/main.py)
    assert all(f"server api-{i}:8000" in conf for i in range(3))
    cli = (ROOT / "qa" / "cli" / "main.py").read_text(encoding="utf-8")
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
