"""Benchmark: `mlrun-registry migrate` against Debian's `skopeo sync`, same images, fresh targets.

    .venv/bin/python benchmarks/migrate_bench.py [--images 20] [--reps 3] [--jobs 6] [--big-gib 1] [--cpus both]

One source registry (real Debian ``docker-registry`` on loopback) is filled with ~20 random images
(3-5 gzip tar layers of 1-20 MB, shared base layers, one OCI index with two platforms, one Docker
manifest list). Each repetition copies them into a fresh htpasswd-protected target with each tool
(order alternates), then re-runs both on the filled target ("nothing new"). Every target is checked
tag by tag against the source digests. Before every timed command the page cache is synced, so a
copy's disk writeback does not run into the next command's time. Printed: medians, the cold-copy
ratio skopeo/migrate (goal >= 1.5), migrate's re-run as a share of its cold copy (goal <= 5%)
measured two ways: the wall time of the whole command (process start-up and imports included) and
the engine's own time (the report's ``seconds``, from listing to verification), and the peak RSS of
the migrate process while copying one image with a ``--big-gib`` GiB layer (goal < 150 MB).

The floor, in the same run: a fresh target of the same kind ingesting every unique
blob once, with the bytes already in memory (POST to open the upload, one monolithic ``PUT
?digest=``), from ``--jobs`` threads on keep-alive ``http.client`` connections with Basic auth sent
up front: what any client must at least pay the target registry for these bytes. No process start,
no listing, no source reads, no manifests, no verification. Goal: migrate's cold copy, its target
configured through the environment (the active service, no ``--to``), within 1.25x of the floor.

Where the gap to the floor goes, measured in the same run: the source-read floor (GET every unique
blob once from the source, same parallelism, bytes discarded), the copy floor (every unique blob
streamed source -> fresh target once, POST + one monolithic PUT fed from the GET, no hashing, no
listing, no manifests: what any copying client pays both registries), sha256 over every unique
blob in one thread (what the client-side digest check costs in CPU), and the CPU seconds each process
spent in every timed run (source registry, target registry, and the client: migrate's process, or
this script's threads for the floors). Goal: the cold copy within 1.1x of the copy floor. Each
migrate line prints the requests each registry answered, and the target's per copied blob (the
floors send 2: POST + PUT; an htpasswd registry pays a bcrypt check on every request).

Two CPU set-ups (``--cpus``, both by default, each with its own floors and the goal line), because on a
small machine the three processes compete for the same CPUs:
- ``shared``: every process on every CPU. The target registry's ingest (a sha256 and a file write
  per byte, a bcrypt check per request) already keeps the CPUs busy here, so whatever else must run
  (the source registry serving the bytes, the client's digest check) comes out of the target's time,
  while the floor runs with no source and no hashing at all.
- ``split``: the target registry on its own half of the CPUs (CPU 0 of 2), the source registry and the
  client on the other half: a target on machines of its own (ECR, GHCR, a registry in another
  cluster), which is what the floor stands for. The ratio then shows what the copy costs the target
  beyond the bytes (its extra requests) and the client's gaps (start-up, listing, verification).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import images as im  # noqa: E402
from tests.support.registry import RunningRegistry, start_registry  # noqa: E402

USER, PASSWORD = "bench", "bench-pw-1"
#: the floors send Basic auth up front (every target is htpasswd-protected)
BASIC_AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
NAMESPACE = "mlrun"


def bench_images(count: int, seed: int, min_mb: float, max_mb: float) -> list[im.TestImage]:
    """``count`` images under mlrun/: 3-5 layers of min..max MB, the first two from shared bases."""
    rng = random.Random(seed)
    lo, hi = int(min_mb * 1e6), int(max_mb * 1e6)
    bases = [[im.random_layer(rng, rng.randint(lo, hi)) for _ in range(2)] for _ in range(3)]
    out: list[im.TestImage] = []
    for i in range(count):
        repo = f"{NAMESPACE}/func-bench{i % 4}-fn{i}"
        base = bases[i % len(bases)]
        own = [im.random_layer(rng, rng.randint(lo, hi)) for _ in range(rng.randint(1, 3))]
        if i == 0:
            amd = im.build_image([*base, *own], oci=True, platform=("linux", "amd64"))
            arm = im.build_image([*base, im.random_layer(rng, rng.randint(lo, hi))], oci=True,
                                 platform=("linux", "arm64"))
            out.append(im.TestImage(repo, "multi", im.build_index([amd, arm], oci=True)))
        elif i == 1:
            out.append(im.TestImage(repo, "list", im.build_index([im.build_image([*base, *own])], oci=False)))
        else:
            out.append(im.TestImage(repo, "v1", im.build_image([*base, *own], oci=bool(i % 2))))
    return out


def unique_bytes(images: list[im.TestImage]) -> int:
    seen: dict[str, int] = {}
    for item in images:
        for blob in item.image.all_blobs():
            seen[blob.digest] = blob.size
    return sum(seen.values())


def run_migrate(source: RunningRegistry, target: RunningRegistry, jobs: int,
                via_env: bool = False) -> tuple[float, dict, int]:
    """Run the CLI in its own process; returns (wall seconds, JSON report, peak RSS in KiB).

    ``via_env``: the target is the active registry service, configured through the environment
    (``MLRUN_REGISTRY_EXT_URL`` and its login; no ``--to``), as a user sets it up once.

    Peak RSS is the process's own high-water mark (``VmHWM``, polled): ``ru_maxrss`` from wait4 would
    also count this benchmark's memory, which a forked child inherits until its exec.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRUN_REGISTRY_EXT_")}
    env["MLRUN_IGNORE_ENV_FILE"] = "true"
    cmd = [sys.executable, "-m", "mlrun_registry_ext.cli", "migrate", "--from", source.url, "--jobs", str(jobs),
           "--json"]
    if via_env:
        env.update(MLRUN_REGISTRY_EXT_URL=target.url, MLRUN_REGISTRY_EXT_USERNAME=USER,
                   MLRUN_REGISTRY_EXT_PASSWORD=PASSWORD)
    else:
        env.update(MLRUN_REGISTRY_EXT_MIGRATE_TO_USERNAME=USER, MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD=PASSWORD)
        cmd += ["--to", target.url]
    peaks = [0]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        quiesce()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)

        def poll() -> None:  # in a thread, so that the wall time is not rounded up to a polling step
            while proc.returncode is None:
                peaks[0] = max(peaks[0], _hwm_kib(proc.pid))
                time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        proc.wait()
        wall = time.perf_counter() - started
        poller.join()
        peak = peaks[0]
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"migrate failed ({proc.returncode}): {stderr[-2000:]}\n{stdout[-2000:]}")
    return wall, json.loads(stdout), peak


#: What the floors send the target per unique blob: POST (open the upload) + one monolithic PUT.
FLOOR_REQUESTS_PER_BLOB = 2.0


def target_requests_per_blob(report: dict) -> float:
    """The target's requests (listing, auth challenge, uploads, mounts, manifests, verification) per blob
    copied (streamed, not mounted): the floors pay :data:`FLOOR_REQUESTS_PER_BLOB`."""
    return report["requests"]["target"] / max(1, report["blobs"]["copied"])


def requests_note(report: dict) -> str:
    return (f"{report['requests']['target']} target requests, {target_requests_per_blob(report):.2f} per copied "
            f"blob; {report['requests']['source']} source requests")


def quiesce() -> None:
    """Before each timed command, either tool's: write the last copy's ~600 MB out to disk, so that the
    kernel's writeback of one run does not land in the next one's time."""
    os.sync()


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_skopeo(source: RunningRegistry, target: RunningRegistry, repos: list[str], workdir: Path) -> float:
    spec = workdir / "skopeo-sync.yaml"
    spec.write_text(f"{source.host}:\n  tls-verify: false\n  images:\n"
                    + "".join(f"    {repo}: []\n" for repo in repos))
    cmd = ["skopeo", "sync", "--all", "--preserve-digests", "--src", "yaml", "--dest", "docker",
           "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}", str(spec), f"{target.host}/{NAMESPACE}"]
    quiesce()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"skopeo failed: {proc.stderr[-2000:]}")
    return wall


def check_target(target: RunningRegistry, expected: dict[str, str], tool: str) -> None:
    got = im.tag_digests(target.url, (USER, PASSWORD))
    if got != expected:
        missing = sorted(set(expected) - set(got))
        wrong = sorted(k for k in expected if k in got and got[k] != expected[k])
        raise SystemExit(f"{tool}: target differs from the source: missing {missing[:5]}, wrong {wrong[:5]}")


def ingest_floor(target: RunningRegistry, images: list[im.TestImage], jobs: int) -> float:
    """Seconds for ``target`` to ingest every unique blob once (bytes in memory, ``jobs`` threads)."""
    work = _unique_blobs(images)
    for _, blob in work:
        assert blob.data is not None
    host, conns = urlsplit(target.url).netloc, _Conns()

    def call(method: str, path: str, body: bytes | None = None) -> http.client.HTTPResponse:
        conn = conns.get(host)
        headers = dict(BASIC_AUTH, **({"Content-Type": "application/octet-stream"} if body is not None else {}))
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response

    def ingest(pair: tuple[str, im.Blob]) -> None:
        repo, blob = pair
        opened = call("POST", f"/v2/{repo}/blobs/uploads/")
        location = opened.getheader("location") or ""
        if opened.status != 202 or not location:
            raise SystemExit(f"floor: POST upload answered {opened.status}")
        parts = urlsplit(location)
        path = f"{parts.path}?{parts.query + '&' if parts.query else ''}digest={blob.digest}"
        done = call("PUT", path, blob.data)
        if done.status != 201:
            raise SystemExit(f"floor: PUT {blob.digest} answered {done.status}")

    return _timed_pool(ingest, work, jobs)


def _timed_pool(fn: Callable[[tuple[str, im.Blob]], None], work: list[tuple[str, im.Blob]], jobs: int) -> float:
    """Seconds for ``jobs`` threads to run ``fn`` over ``work``, after the page cache is synced."""
    quiesce()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(fn, work))
    return time.perf_counter() - started


def _unique_blobs(images: list[im.TestImage]) -> list[tuple[str, im.Blob]]:
    """Each unique blob once, with a repository that has it."""
    blobs: dict[str, tuple[str, im.Blob]] = {}
    for item in images:
        for blob in item.image.all_blobs():
            blobs.setdefault(blob.digest, (item.repository, blob))
    return sorted(blobs.values(), key=lambda pair: -pair[1].size)  # biggest first, as migrate does


class _Conns:
    """One keep-alive ``http.client`` connection per thread and host."""

    def __init__(self) -> None:
        self.local = threading.local()

    def get(self, host: str) -> http.client.HTTPConnection:
        conns = self.local.__dict__.setdefault("conns", {})
        if host not in conns:
            conns[host] = http.client.HTTPConnection(host, timeout=60)
        return conns[host]


def source_read_floor(source: RunningRegistry, images: list[im.TestImage], jobs: int) -> float:
    """Seconds to GET every unique blob once from ``source`` (``jobs`` threads), bytes discarded."""
    host, conns = urlsplit(source.url).netloc, _Conns()

    def read(pair: tuple[str, im.Blob]) -> None:
        repo, blob = pair
        conn = conns.get(host)
        conn.request("GET", f"/v2/{repo}/blobs/{blob.digest}")
        response = conn.getresponse()
        buffer = bytearray(1 << 20)
        got = 0
        while n := response.readinto(buffer):
            got += n
        if response.status != 200 or got != blob.size:
            raise SystemExit(f"read floor: GET {blob.digest} answered {response.status}, {got} bytes")

    return _timed_pool(read, _unique_blobs(images), jobs)


def copy_floor(source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage], jobs: int) -> float:
    """Seconds to stream every unique blob once source -> ``target`` (POST, then one PUT whose body is
    the source's GET, 1 MiB at a time), ``jobs`` threads, no hashing: both registries' share."""
    src, dst, conns = urlsplit(source.url).netloc, urlsplit(target.url).netloc, _Conns()

    def copy(pair: tuple[str, im.Blob]) -> None:
        repo, blob = pair
        up = conns.get(dst)
        up.request("POST", f"/v2/{repo}/blobs/uploads/", headers=BASIC_AUTH)
        opened = up.getresponse()
        opened.read()
        location = urlsplit(opened.getheader("location") or "")
        down = conns.get(src)
        down.request("GET", f"/v2/{repo}/blobs/{blob.digest}")
        body = down.getresponse()

        def chunks() -> Iterator[bytes]:
            while chunk := body.read(1 << 20):
                yield chunk

        path = f"{location.path}?{location.query + '&' if location.query else ''}digest={blob.digest}"
        up.request("PUT", path, body=chunks(), headers=dict(BASIC_AUTH, **{"Content-Length": str(blob.size),
                                                                      "Content-Type": "application/octet-stream"}))
        done = up.getresponse()
        done.read()
        if done.status != 201:
            raise SystemExit(f"copy floor: PUT {blob.digest} answered {done.status}")

    return _timed_pool(copy, _unique_blobs(images), jobs)


def hash_seconds(images: list[im.TestImage]) -> float:
    """sha256 over every unique blob, one thread: the CPU the client-side digest check costs."""
    work = _unique_blobs(images)
    started = time.perf_counter()
    for _, blob in work:
        assert blob.data is not None
        hashlib.sha256(blob.data).hexdigest()
    return time.perf_counter() - started


def peak_rss_big_layer(workdir: Path, gib: float, jobs: int) -> tuple[float, int, float]:
    """Copy one image with a ``gib`` GiB layer; returns (seconds, peak RSS KiB of migrate, MB/s)."""
    rng = random.Random(99)
    layer_dir = workdir / "big"
    layer_dir.mkdir()
    big = im.big_random_layer(rng, int(gib * (1 << 30)), layer_dir)
    image = im.build_image([im.random_layer(rng, 100_000), big])
    source = start_registry(workdir, htpasswd_users={USER: PASSWORD})
    target = start_registry(workdir, auth="htpasswd", htpasswd_users={USER: PASSWORD})
    try:
        im.push_all(source.url, [im.TestImage(f"{NAMESPACE}/func-big-layer", "v1", image)])
        big.path.unlink() if big.path else None
        wall, report, rss = run_migrate(source, target, jobs)
        check_target(target, {f"{NAMESPACE}/func-big-layer:v1": image.digest}, "migrate (1 GiB)")
        return wall, rss, report["bytes"]["copied"] / 1e6 / wall
    finally:
        source.stop()
        target.stop()


def cpu_seconds(registry: RunningRegistry) -> float:
    """User + system CPU seconds the registry process has used so far (``/proc/<pid>/stat``)."""
    assert registry.process is not None
    fields = Path(f"/proc/{registry.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def on_cpus(cpus: set[int] | None) -> Iterator[None]:
    """Run the block (and the threads and processes it starts, which inherit the mask) on ``cpus``."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin(registry: RunningRegistry, cpus: set[int]) -> None:
    """Move a running registry (every thread it has; new ones inherit) onto ``cpus``."""
    assert registry.process is not None
    for _ in range(2):  # a thread started while the first pass ran is caught by the second
        for task in os.listdir(f"/proc/{registry.process.pid}/task"):
            with suppress(ProcessLookupError):
                os.sched_setaffinity(int(task), cpus)


class Setup:
    """Where each process runs: ``shared`` (all on every CPU) or ``split`` (the target on its own CPUs)."""

    def __init__(self, name: str) -> None:
        self.name = name
        cpus = sorted(os.sched_getaffinity(0))
        self.all = set(cpus)
        half = max(1, len(cpus) // 2)
        self.target = set(cpus[:half]) if name == "split" else None
        self.rest = set(cpus[half:]) if name == "split" else None

    def describe(self) -> str:
        if self.target is None or self.rest is None:
            return f"shared: every process on CPUs {_cpu_list(self.all)}"
        return (f"split: target registry on CPU {_cpu_list(self.target)}; source registry and client on CPU "
                f"{_cpu_list(self.rest)}")


def _cold_copy(source: RunningRegistry, target: RunningRegistry, jobs: int, reports: list[dict]) -> float:
    """migrate's cold copy into ``target`` configured through env; its report appended to ``reports``."""
    wall, report, _ = run_migrate(source, target, jobs, via_env=True)
    reports.append(report)
    return wall


def _cpu_list(cpus: set[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--min-mb", type=float, default=1.0)
    parser.add_argument("--max-mb", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--big-gib", type=float, default=1.0, help="layer size for the memory check (0: skip)")
    parser.add_argument("--cpus", choices=("both", "shared", "split"), default="both",
                        help="CPU set-ups to measure (see above)")
    args = parser.parse_args()
    if not shutil.which("skopeo"):
        raise SystemExit("skopeo is not installed (apt-get install skopeo)")
    names = ["shared", "split"] if args.cpus == "both" else [args.cpus]
    if "split" in names and len(os.sched_getaffinity(0)) < 2:
        print("one CPU: the split set-up needs two; measuring shared only")
        names = ["shared"]
    setups = [Setup(name) for name in names]

    workdir = Path(tempfile.mkdtemp(prefix="migrate-bench-"))
    started = []
    try:
        t0 = time.perf_counter()
        images = bench_images(args.images, args.seed, args.min_mb, args.max_mb)
        source = start_registry(workdir)
        started.append(source)
        im.push_all(source.url, images)
        expected = im.expected_digests(images)
        repos = sorted({i.repository for i in images})
        layers = sum(len(b.image.all_blobs()) for b in images)
        skopeo = subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.strip()
        print(f"images: {len(images)} tags in {len(repos)} repositories, {layers} blob references, "
              f"{unique_bytes(images) / 1e6:.0f} MB unique (prepared in {time.perf_counter() - t0:.1f} s); "
              f"{os.cpu_count()} CPUs; {skopeo}")
        for setup in setups:
            print(f"  {setup.describe()}")

        times: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        engine: dict[str, list[float]] = {"migrate": [], "migrate-rerun": []}

        def fresh_target(setup: Setup) -> RunningRegistry:
            with on_cpus(setup.target):
                target = start_registry(workdir, auth="htpasswd", htpasswd_users={USER: PASSWORD})
            started.append(target)
            return target

        def timed(setup: Setup, tool: str, run: Callable[[], float], target: RunningRegistry | None) -> float:
            """Run ``run`` (on the client CPUs); record its wall time and each process's CPU seconds (the
            client's: this script's threads and the children it waited for, migrate's or skopeo's process)."""
            src0, dst0, me0 = cpu_seconds(source), cpu_seconds(target) if target else 0.0, os.times()
            with on_cpus(setup.rest):
                wall = run()
            me1 = os.times()
            mine = sum(after - before for after, before in zip(me1[:4], me0[:4]))
            used = (cpu_seconds(source) - src0, (cpu_seconds(target) - dst0) if target else 0.0, mine)
            times.setdefault((setup.name, tool), []).append(wall)
            cpu.setdefault((setup.name, tool), []).append(used)
            return wall

        per_blob: dict[str, list[float]] = {}

        def cpu_note(used: tuple[float, float, float]) -> str:
            return f"[CPU s: source {used[0]:.2f}, target {used[1]:.2f}, client {used[2]:.2f}]"

        for rep in range(args.reps):
            for setup in setups:
                if setup.rest is not None:
                    pin(source, setup.rest)
                tools = ["migrate", "skopeo", "floor", "read floor", "copy floor"]
                if setup.name == "split":  # the floors and the cold copy: what the split is for
                    tools = ["migrate", "floor", "copy floor"]
                for tool in tools if rep % 2 == 0 else tools[::-1]:
                    tag = f"rep {rep + 1} [{setup.name}]"
                    key = (setup.name, tool)
                    if tool == "read floor":
                        timed(setup, tool, partial(source_read_floor, source, images, args.jobs), None)
                        print(f"{tag}: read floor {times[key][-1]:6.2f} s (GET every unique blob once from the "
                              f"source, discarded) {cpu_note(cpu[key][-1])}")
                        continue
                    target = fresh_target(setup)
                    if tool == "copy floor":
                        timed(setup, tool, partial(copy_floor, source, target, images, args.jobs), target)
                        print(f"{tag}: copy floor {times[key][-1]:6.2f} s (every unique blob streamed source -> "
                              f"target once, no hashing) {cpu_note(cpu[key][-1])}")
                    elif tool == "floor":
                        timed(setup, tool, partial(ingest_floor, target, images, args.jobs), target)
                        print(f"{tag}: floor      {times[key][-1]:6.2f} s (the target ingesting every unique "
                              f"blob once, bytes in memory) {cpu_note(cpu[key][-1])}")
                    elif tool == "migrate":
                        reports: list[dict] = []
                        timed(setup, tool, partial(_cold_copy, source, target, args.jobs, reports), target)
                        check_target(target, expected, tool)
                        report = reports[-1]
                        line = (f"{tag}: migrate cold {times[key][-1]:6.2f} s (engine {report['seconds']:.2f} s; "
                                f"{report['blobs']['copied']} blobs copied, {report['blobs']['mounted']} mounted; "
                                f"{requests_note(report)}) {cpu_note(cpu[key][-1])}")
                        per_blob.setdefault(setup.name, []).append(target_requests_per_blob(report))
                        if setup.name == "shared":
                            with on_cpus(setup.rest):
                                rerun, rereport, _ = run_migrate(source, target, args.jobs, via_env=True)
                            if rereport["blobs"]["copied"] or rereport["manifests"]["copied"]:
                                raise SystemExit(f"re-run copied something: {rereport['blobs']} "
                                                 f"{rereport['manifests']}")
                            times.setdefault((setup.name, "migrate-rerun"), []).append(rerun)
                            engine["migrate"].append(report["seconds"])
                            engine["migrate-rerun"].append(rereport["seconds"])
                            line += f"; re-run {rerun:5.2f} s (engine {rereport['seconds']:.3f} s)"
                        print(line)
                    else:
                        timed(setup, tool, partial(run_skopeo, source, target, repos, workdir), target)
                        check_target(target, expected, tool)
                        rerun = run_skopeo(source, target, repos, workdir)
                        times.setdefault((setup.name, "skopeo-rerun"), []).append(rerun)
                        print(f"{tag}: skopeo  cold {times[key][-1]:6.2f} s; re-run {rerun:5.2f} s "
                              f"{cpu_note(cpu[key][-1])}")
                    target.stop()
                if setup.rest is not None:
                    pin(source, setup.all)

        med = {k: statistics.median(v) for k, v in times.items()}
        print()
        print(f"median over {args.reps} repetitions (wall time of the whole command, process start included; "
              "CPU seconds of each process):")
        for setup in setups:
            print(f"  {setup.describe()}")
            for (name, tool), value in med.items():
                if name != setup.name:
                    continue
                used = cpu.get((name, tool))
                spent = "" if not used else "  CPU s: " + ", ".join(
                    f"{who} {statistics.median(u[i] for u in used):.2f}"
                    for i, who in enumerate(("source", "target", "client")))
                print(f"    {tool:14s} {value:7.2f} s{spent}")
        hashing = hash_seconds(images)
        for name, values in per_blob.items():
            print(f"target requests per copied blob [{name}]: migrate {statistics.median(values):.2f}, the floors "
                  f"{FLOOR_REQUESTS_PER_BLOB:.2f} (POST + PUT; each request costs an htpasswd registry a bcrypt check)")
        for setup in setups:
            floor = med[(setup.name, "migrate")] / med[(setup.name, "floor")]
            print(f"cold copy against the floor [{setup.name}] (target configured through env): migrate / floor = "
                  f"{floor:.2f}x (goal <= 1.25x: {'met' if floor <= 1.25 else 'NOT met'}); copy floor / floor = "
                  f"{med[(setup.name, 'copy floor')] / med[(setup.name, 'floor')]:.2f}x; floor "
                  f"{med[(setup.name, 'floor')]:.2f} s = {unique_bytes(images) / 1e6 / med[(setup.name, 'floor')]:.0f}"
                  " MB/s")
        if ("shared", "migrate") in med:
            shared = {k[1]: v for k, v in med.items() if k[0] == "shared"}
            ratio = shared["skopeo"] / shared["migrate"]
            eng = {k: statistics.median(v) for k, v in engine.items()}
            print(f"  {'migrate engine':14s} {eng['migrate']:7.2f} s  (the report's seconds: listing to "
                  f"verification; shared)")
            print(f"cold copy [shared]: skopeo / migrate = {ratio:.2f}x  (goal >= 1.5x: "
                  f"{'met' if ratio >= 1.5 else 'NOT met'})")
            to_copy_floor = shared['migrate'] / shared['copy floor']
            print(f"cold copy against the copy floor [shared]: migrate / copy floor = {to_copy_floor:.2f}x (goal <= "
                  f"1.1x: {'met' if to_copy_floor <= 1.1 else 'NOT met'})")
            print(f"where the gap goes [shared]: read floor {shared['read floor']:.2f} s, copy floor "
                  f"{shared['copy floor']:.2f} s, sha256 of every unique blob {hashing:.2f} s in "
                  "one thread, process start-up and imports "
                  f"{shared['migrate-rerun'] - eng['migrate-rerun']:.2f} s; the CPU seconds above")
            rerun_share = shared["migrate-rerun"] / shared["migrate"]
            engine_share = eng["migrate-rerun"] / eng["migrate"]
            print(f"re-run with nothing new, whole command (wall, start-up included): {rerun_share * 100:.1f}% of "
                  f"the cold copy (goal <= 5%: {'met' if rerun_share <= 0.05 else 'NOT met'}); of that, "
                  f"{shared['migrate-rerun'] - eng['migrate-rerun']:.2f} s is process start-up and imports")
            print(f"re-run with nothing new, engine only (report seconds): {engine_share * 100:.1f}% of the cold "
                  f"copy's engine time (goal <= 5%: {'met' if engine_share <= 0.05 else 'NOT met'}); skopeo re-run "
                  f"{shared['skopeo-rerun'] / shared['skopeo'] * 100:.0f}% of its cold copy")
        if args.big_gib > 0:
            wall, rss, mbps = peak_rss_big_layer(workdir, args.big_gib, args.jobs)
            print(f"{args.big_gib:g} GiB layer: {wall:.1f} s, {mbps:.0f} MB/s, peak RSS of the migrate process "
                  f"{rss / 1024:.0f} MB  (goal < 150 MB: {'met' if rss / 1024 < 150 else 'NOT met'})")
        return 0
    finally:
        for registry in started:
            registry.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
