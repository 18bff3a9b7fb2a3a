"""``qa index DIR --ray``: passages embedded by Ray actors on a local Ray (127.0.0.1 only),
written to the Qdrant back end, searchable like a locally embedded corpus."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from tests.conftest import ROOT, SEEDS
from tests.procs import descendants

pytest.importorskip("ray", reason="--ray needs pip install '.[scale]'")
pytest.importorskip("qdrant_client", reason="the Qdrant back end needs pip install '.[scale]'")


@pytest.mark.slow
def test_index_with_ray_into_qdrant(tmp_path: Path, embedder: Embedder) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "QA_BACKEND": "qdrant",
        "QA_QDRANT_PATH": str(tmp_path / "qdrant"),
        "RAY_ADDRESS": "",  # never join a cluster this machine may know of
    }
    command = [sys.executable, "-m", "qa.cli", "index", str(SEEDS), "--ray", "--ray-workers", "2"]
    command += ["--ray-chunk", "2", "--data-dir", str(tmp_path / "data")]  # three chunks
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "5 documents indexed" in done.stdout

    settings = Settings(
        data_dir=tmp_path / "data", backend="qdrant", qdrant_path=tmp_path / "qdrant", reader=False
    )
    with Engine(settings, embedder=embedder) as engine:
        passages = [p for batch in engine.backend.iter_passages() for p in batch]
        assert engine.health().passages == len(passages) > 50
        stored = engine.backend.vectors_at([(p.doc_id, p.paragraph) for p in passages])
        local = embedder.encode([p.text for p in passages])
        cosines = [float(a @ b) for a, b in zip(stored, local, strict=True) if a is not None]
        assert len(cosines) == len(passages) and min(cosines) >= 0.999, min(cosines)
        hit = engine.search("Afghan troops fled into Tajikistan overnight", k=1).passages[0]
        assert "fled into Tajikistan" in hit.text
        # A second run finds nothing to do (and starts no Ray job).
        assert engine.sync(SEEDS, progress=False) == (0, 0)


PROBE = r"""
import json, os, subprocess, sys, time
from index.ray_ingest import LOCAL, RayEmbed
from tests.procs import descendants, listening

embed = RayEmbed("all-MiniLM-L6-v2", 384, LOCAL, workers=1, local_cpus=1)
import ray
open_sockets = listening(descendants(os.getpid()))
gcs = ray.get_runtime_context().gcs_address
join = [sys.executable, "-c", f"import ray; ray.init(address={gcs!r}); print('joined')"]
# With the token a process joins (timed); without it, not in five times as long.
started = time.monotonic()
member_env = {**os.environ, "RAY_ADDRESS": ""}
member = subprocess.run(join, env=member_env, capture_output=True, text=True, timeout=120)
joined_in = time.monotonic() - started
env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
env["RAY_ADDRESS"] = ""
try:
    intruder = subprocess.run(join, env=env, capture_output=True, text=True, timeout=max(10.0, 5 * joined_in))
    intruder_out = intruder.stdout
except subprocess.TimeoutExpired as stopped:
    intruder_out = stopped.stdout or ""
    intruder_out = intruder_out.decode() if isinstance(intruder_out, bytes) else intruder_out
vectors = embed(["The ferry to the island resumed service on Sunday."])
print(json.dumps({
    "nodes": [n["NodeManagerAddress"] for n in ray.nodes()],
    "gcs": gcs,
    "listening": open_sockets,
    "member_joined": "joined" in member.stdout,
    "intruder_joined": "joined" in intruder_out,
    "norm": float((vectors[0] ** 2).sum()),
}))
embed.close()
"""


@pytest.mark.slow
def test_a_local_ray_listens_on_loopback_only_and_needs_its_token() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ADDRESS": ""}
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_AUTH_MODE", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["nodes"] == ["127.0.0.1"] and seen["gcs"].startswith("127.0.0.1:")
    assert seen["listening"], "no Ray server found listening"
    wide = [s for s in seen["listening"] if s[1] not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")]
    assert not wide, f"Ray listens beyond loopback: {wide}"
    assert seen["member_joined"] and not seen["intruder_joined"]  # no token, no entry
    assert abs(seen["norm"] - 1.0) < 1e-3  # and the job itself ran


def _news_corpus(folder: Path, documents: int, paragraphs: int = 4) -> Path:
    """Documents of distinct prose paragraphs, enough to keep two actors busy a while."""
    folder.mkdir()
    for n in range(documents):
        text = [
            f"Report {n}-{k}: officials in district {n * 7 + k} said the river crossing number {k} "
            f"reopened to trucks carrying {n + k * 13} tonnes of grain on the morning of day {n % 28 + 1}."
            for k in range(paragraphs)
        ]
        (folder / f"report-{n:04d}.txt").write_text("\n\n".join(text) + "\n")
    return folder


# A fault comes once `qa index --ray` has written its first chunk of 500 documents, with two
# chunks still to embed: mid-run on any machine, however fast.
FAULT_CORPUS = 1200


def _faulty_corpus(tmp_path: Path) -> Path:
    return _news_corpus(tmp_path / "corpus", FAULT_CORPUS, paragraphs=1)


def _wait_for_first_chunk(job: subprocess.Popen[str], data: Path) -> None:
    import sqlite3
    import time

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and job.poll() is None:
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(f"file:{data / 'store.sqlite3'}?mode=ro", uri=True)) as db,
        ):
            if db.execute("SELECT count(*) FROM documents").fetchone()[0]:
                return
        time.sleep(0.1)
    raise AssertionError(f"no chunk was written (exit {job.poll()})")


def _ray_processes(name: str) -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip().startswith(name):
                found.append(int(comm.parent.name))
        except OSError:
            pass
    return found


def _index_with_ray(corpus: Path, data: Path) -> subprocess.Popen[str]:
    # A lost head is given up on in 5 s here (20 s by default): the same path, shorter waits.
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RAY_ADDRESS": "",
        "RAY_gcs_rpc_server_reconnect_timeout_s": "5",
    }
    command = [sys.executable, "-m", "qa.cli", "index", str(corpus), "--ray", "--ray-workers", "2"]
    command += ["--data-dir", str(data)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _kill_after_first_chunk(name: str, job: subprocess.Popen[str], data: Path) -> None:
    import signal

    _wait_for_first_chunk(job, data)
    pids = _ray_processes(name)
    assert pids, f"no {name} process to kill"
    os.kill(pids[0], signal.SIGKILL)


def _stored_whole(data: Path, corpus: Path, embedder: Embedder) -> set[str]:
    """The documents the store holds, each checked whole (every paragraph, exact offsets)."""
    from index.text.paragraphs import split_paragraphs

    with Engine(Settings(data_dir=data, reader=False), embedder=embedder) as engine:
        stored = {d.doc_id for d in engine.documents(sort="doc_id")}
        for doc in engine.documents(sort="doc_id"):
            text = (corpus / f"{doc.doc_id}.txt").read_text()
            assert doc.passages == len(split_paragraphs(text)), doc.doc_id
    return stored


@pytest.mark.slow
def test_a_lost_worker_costs_nothing(tmp_path: Path, embedder: Embedder) -> None:
    """SIGKILL one embedding actor's process during `qa index --ray`: its batch goes to the
    other actor (and a replacement), the run finishes, and every document is stored once."""
    corpus = _faulty_corpus(tmp_path)
    job = _index_with_ray(corpus, tmp_path / "data")
    _kill_after_first_chunk("ray::_PassageEn", job, tmp_path / "data")
    out, err = job.communicate(timeout=300)
    assert job.returncode == 0, err[-3000:]
    assert f"{FAULT_CORPUS:,} documents indexed" in out and "actor(s) were lost" in err
    assert len(out.splitlines()) == 1, out  # Ray's own report of the death is in the log, not here
    stored = _stored_whole(tmp_path / "data", corpus, embedder)
    assert stored == {f"report-{n:04d}" for n in range(FAULT_CORPUS)}


TWO_NODES = r"""
import json, os, sys
from index.ray_ingest import local_ray_environment
from tests.procs import descendants, listening
os.environ.update(local_ray_environment())  # loopback only, token authentication
from ray.cluster_utils import Cluster

cluster = Cluster(
    initialize_head=True,
    connect=False,
    head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"},
)
worker = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
cluster.wait_for_nodes()
print(json.dumps({
    "address": cluster.address,
    "token": os.environ["RAY_AUTH_TOKEN"],
    "nodes": sorted({n.node_ip_address for n in cluster.list_all_nodes()}),
    "worker_raylet": worker.all_processes["raylet"][0].process.pid,
    "listening": listening(descendants(os.getpid())),
}), flush=True)
sys.stdin.read()  # until the test is done
cluster.shutdown()
"""


@pytest.mark.slow
def test_a_lost_worker_node_costs_nothing(tmp_path: Path, embedder: Embedder) -> None:
    """A two-node Ray on 127.0.0.1 (a head and a worker node, one CPU each, token auth),
    one embedding actor on each: SIGKILL the worker node (its raylet and every process under
    it) during `qa index --ray ADDRESS`. The run finishes on the head's actor, and every
    document is stored once, whole."""
    import signal

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ADDRESS": "", "RAY_AUTH_TOKEN": ""}
    cluster = subprocess.Popen(
        [sys.executable, "-c", TWO_NODES],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert cluster.stdout is not None and cluster.stdin is not None
        started = json.loads(cluster.stdout.readline() or "{}")
        assert started.get("nodes") == ["127.0.0.1"], started
        wide = [s for s in started["listening"] if s[1] not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")]
        assert started["listening"] and not wide, f"a Ray server listens beyond loopback: {wide}"
        corpus = _faulty_corpus(tmp_path)
        job_env = {
            **env,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": started["token"],
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }
        command = [sys.executable, "-m", "qa.cli", "index", str(corpus), "--ray", started["address"]]
        command += ["--ray-workers", "2", "--data-dir", str(tmp_path / "data")]
        job = subprocess.Popen(
            command, cwd=ROOT, env=job_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        _wait_for_first_chunk(job, tmp_path / "data")
        node = descendants(started["worker_raylet"])
        assert node & set(_ray_processes("ray::_PassageEn")), "no embedding actor on the worker node"
        for pid in node:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, err = job.communicate(timeout=400)
        assert job.returncode == 0, err[-3000:]
        assert f"{FAULT_CORPUS:,} documents indexed" in out and "actor(s) were lost" in err
        assert len(out.splitlines()) == 1, out
        stored = _stored_whole(tmp_path / "data", corpus, embedder)
        assert stored == {f"report-{n:04d}" for n in range(FAULT_CORPUS)}
    finally:
        with contextlib.suppress(OSError):
            cluster.stdin.close()  # type: ignore[union-attr]
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cluster.kill()


@pytest.mark.slow
def test_a_lost_head_ends_in_one_line_and_whole_documents(tmp_path: Path, embedder: Embedder) -> None:
    """SIGKILL the Ray head's GCS during `qa index --ray`: the command exits non-zero with one
    `qa:` line, and the store holds whole documents only; a rerun finishes the job."""
    corpus = _faulty_corpus(tmp_path)
    job = _index_with_ray(corpus, tmp_path / "data")
    _kill_after_first_chunk("gcs_server", job, tmp_path / "data")
    _, err = job.communicate(timeout=300)
    assert job.returncode != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qa: "), err[-3000:]
    stored = _stored_whole(tmp_path / "data", corpus, embedder)
    assert 0 < len(stored) < FAULT_CORPUS
    rerun = _index_with_ray(corpus, tmp_path / "data")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    left = FAULT_CORPUS - len(stored)
    assert f"{left:,} document{'' if left == 1 else 's'} indexed" in out


GPU_WITHOUT_CUDA = r"""
import os
from index.ray_ingest import LOCAL, RayEmbed, RayUnavailable, local_ray_environment
os.environ.update(local_ray_environment())
import ray
# A GPU as Ray counts resources, on a machine whose torch has no CUDA.
ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=1, num_gpus=1, log_to_driver=False)
try:
    RayEmbed("all-MiniLM-L6-v2", 384, LOCAL, gpus_per_worker=1, start_timeout=60)
    print("started")
except RayUnavailable as exc:
    print(exc)
"""


@pytest.mark.slow
def test_gpu_actors_ask_for_a_gpu_and_say_when_torch_has_none(tmp_path: Path) -> None:
    """`--ray-gpus 1`: each actor is placed on a GPU (a Ray resource) and embeds with CUDA;
    where torch sees no CUDA device (here), the run stops at once with that cause, instead of
    restarting actors that die the same way."""
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU: the actor would start")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ADDRESS": ""}
    done = subprocess.run(
        [sys.executable, "-c", GPU_WITHOUT_CUDA],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    said = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert said.startswith("an embedding actor could not start: RuntimeError: Ray gave this actor a GPU")
    assert "sees no CUDA device" in said


@pytest.mark.slow
def test_a_cluster_without_room_for_the_actors_is_said_not_waited_on(tmp_path: Path) -> None:
    """Actors that need more CPUs than the cluster has used to wait for ever: now the command
    stops after --ray-timeout with what they need and what there is, in one line."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ADDRESS": ""}
    command = [sys.executable, "-m", "qa.cli", "index", str(SEEDS), "--ray", "--ray-threads", "4096"]
    command += ["--ray-timeout", "5", "--data-dir", str(tmp_path / "data")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qa: "), done.stderr[-2000:]
    assert "found no room within 5 s" in lines[0] and "4096 CPU" in lines[0]


def test_a_node_address_from_outside_the_cluster_says_which_address_to_give() -> None:
    """`--ray host:6379` joins a cluster this machine is a node of; from elsewhere the
    failure used to be a misleading one-liner. It now names Ray Client's address."""
    from index.ray_ingest import LOCAL, address_hint

    hint = address_hint("head.example:6379")
    assert "ray://head.example:10001" in hint and "node of" in hint
    assert address_hint("ray://head.example:10001") == address_hint(LOCAL) == ""
