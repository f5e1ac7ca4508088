"""Prune's plan at scale: 2,000 repositories, 10,000 tags, 5,000 function records across 50 projects.

Goals: the plan (function records to uses, then :func:`plan_prune`) under 30 s and the process's peak
RSS under 200 MB. The floor printed beside it is building the same inputs (what reading them would hand
over at best), so the ratio says what the rules cost on top of holding the data.

Deletes run in parallel: ``--deletes N`` also pushes N small manifests over 40 repositories of a real
Debian docker-registry on loopback and times prune's deleter (re-check included) against the peer a
user would script, ``skopeo delete`` per manifest, on the same set pushed again.

    .venv/bin/python benchmarks/prune_bench.py [--repos 2000] [--tags 10000] [--functions 5000] [--deletes 200]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlrun_registry_ext.core.location import RegistryLocation  # noqa: E402
from mlrun_registry_ext.core.prune_plan import (  # noqa: E402
    KeepRules,
    ManifestRecord,
    RepositoryState,
    image_use,
    in_project,
    mlrun_function_images,
    plan_prune,
)

HOST = "registry.example.com:5000"
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
GOAL_SECONDS = 30.0
GOAL_MB = 200.0


def inputs(repos: int, tags: int, functions: int,
           seed: int = 17) -> tuple[list[RepositoryState], list[dict], list[str]]:
    rng = random.Random(seed)
    projects = [f"proj{i}" for i in range(50)] + [f"proj{i}-eu" for i in range(10)]
    base = [(f"sha256:{rng.getrandbits(256):064x}", 30_000_000) for _ in range(20)]
    states = []
    for r in range(repos):
        name = f"mlrun/func-{projects[r % len(projects)]}-fn{r}"
        state = RepositoryState(name)
        for t in range(tags // repos + (1 if r < tags % repos else 0)):
            digest = f"sha256:{rng.getrandbits(256):064x}"
            created = NOW - timedelta(days=rng.randint(0, 200), hours=rng.randint(0, 23))
            blobs = (base[rng.randrange(len(base))], (f"sha256:{rng.getrandbits(256):064x}", rng.randint(1, 9) << 20))
            state.manifests[digest] = ManifestRecord(digest, "application/vnd.oci.image.manifest.v1+json", 900,
                                                     blobs, (), created)
            state.tags[f"v{t}"] = digest
        states.append(state)
    records = []
    for f in range(functions):
        state = states[rng.randrange(len(states))]
        tag = rng.choice(sorted(state.tags)) if state.tags else "latest"
        project = state.name.split("func-", 1)[1].rsplit("-fn", 1)[0]
        records.append({"kind": "job", "metadata": {"name": f"f{f}", "project": project},
                        "spec": {"image": f"{HOST}/{state.name}:{tag}",
                                 "build": {"base_image": "mlrun/mlrun:1.12.1"}},
                        "status": {"container_image": f"{HOST}/{state.name}:{tag}"}})
    return states, records, projects


def delete_bench(count: int, jobs: int = 4) -> tuple[float, float]:
    """(prune's deleter, skopeo delete one by one) seconds for ``count`` manifests; ``jobs``: repositories at
    once (prune's default --jobs 8 deletes in 4)."""
    import subprocess
    import tempfile

    from mlrun_registry_ext.clients.registry.client import RegistryClient, RetryPolicy
    from mlrun_registry_ext.core.prune_plan import ManifestDeletion
    from mlrun_registry_ext.features.prune.delete import delete_http
    from tests.support import images as im
    from tests.support.registry import start_registry

    rng = random.Random(5)
    base = [im.random_layer(rng, 2000)]
    items = [im.TestImage(f"mlrun/func-bench-fn{i % 40}", f"v{i}", im.build_image(base, label=str(i)))
             for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        registry = start_registry(Path(tmp))
        try:
            im.push_all(registry.url, items)
            deletions = [ManifestDeletion(t.repository, t.image.digest, t.image.media_type, 0, (t.tag,), "bench")
                         for t in items]
            with RegistryClient(registry.host, insecure=True, timeout=30, retry=RetryPolicy()) as endpoint:
                started = time.perf_counter()
                delete_http(endpoint, deletions, {}, jobs=jobs)
                ours = time.perf_counter() - started
            assert all(d.status == "deleted" for d in deletions), {d.status for d in deletions}
            im.push_all(registry.url, items)
            started = time.perf_counter()
            for t in items:
                subprocess.run(["skopeo", "delete", "--tls-verify=false",
                                f"docker://{registry.host}/{t.repository}@{t.image.digest}"],
                               check=True, capture_output=True, timeout=60)
            peer = time.perf_counter() - started
        finally:
            registry.stop()
    return ours, peer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--functions", type=int, default=5000)
    parser.add_argument("--deletes", type=int, default=0, metavar="N",
                        help="also time N deletes on a real registry against skopeo delete")
    args = parser.parse_args()

    started = time.perf_counter()
    states, records, projects = inputs(args.repos, args.tags, args.functions)
    floor = time.perf_counter() - started

    location = RegistryLocation(HOST, "", False)
    started = time.perf_counter()
    uses = [u for record in records for image in mlrun_function_images(record)
            if (u := image_use(image, "MLRun function", location)) is not None]
    for state in states:
        state.in_scope = in_project(state.name.split("/")[-1], None, projects)
    plan = plan_prune(states, uses, KeepRules(keep=3, now=NOW))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"inputs: {len(states)} repositories, {sum(len(s.tags) for s in states)} tags, {len(records)} function "
          f"records, {len(uses)} uses")
    print(f"plan: {seconds:.2f} s (goal < {GOAL_SECONDS:.0f} s); building the inputs (floor): {floor:.2f} s; "
          f"ratio {seconds / max(floor, 1e-9):.1f}x")
    print(f"plan: {len(plan.deletions)} manifests to delete, {plan.bytes_freed / 1e9:.1f} GB freed "
          f"({'exact' if plan.exact else 'upper bound'})")
    print(f"peak RSS: {peak_mb:.0f} MB (goal < {GOAL_MB:.0f} MB)")
    ok = seconds < GOAL_SECONDS and peak_mb < GOAL_MB
    if args.deletes:
        ours, peer = delete_bench(args.deletes)
        print(f"deletes: {args.deletes} manifests in {ours:.2f} s (re-check included, 4 repositories at once); "
              f"skopeo delete one by one: {peer:.2f} s; ratio {ours / peer:.2f}")
    print("goals met" if ok else "GOALS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
