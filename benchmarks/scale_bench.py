"""Scale: `mlrun-registry migrate` against `skopeo sync` on thousands of small images, and its memory.

    .venv/bin/python benchmarks/scale_bench.py [--repos 2000] [--tags 10000] [--jobs 6] [--auth htpasswd]
                                               [--no-skopeo]

Goals, measured side by side in one run:
- the re-run with nothing new at least 3x faster than `skopeo sync`'s re-run of the same images;
- peak RSS of the migrate process under 200 MB;
- memory that does not grow with the tag count beyond the listing itself: the same runs at a quarter
  of the size (``--small``) give the RSS at two sizes and the growth per 1,000 tags. The goal is met
  when the cold copy's growth is no larger than the nothing-new re-run's: the re-run holds just the
  listing and the per-tag decisions, so a cold copy that grows faster keeps something per tag it
  copied.

``--no-skopeo`` leaves `skopeo sync` out (and with it the speed comparison): most of a full run's time
is skopeo's, and the memory figures need only migrate's runs.

It measures listing and decisions, not bytes: every image is two small layers (from a pool of 16
real gzip tar layers, so each repository's layers are mounted, not re-sent) and its own config (a
label with ``repo:tag``), so every tag has its own manifest digest.

Seeding: the source registry's filesystem storage (distribution's ``storage/paths.go`` layout:
``blobs/sha256/<2>/<hex>/data``, and per repository ``_layers``, ``_manifests/revisions`` and
``_manifests/tags/<tag>/{current,index}`` link files) is written directly before the registry starts:
10,000 images take seconds this way, against many minutes of pushes (each push is several requests
the registry must verify). The registry then serves them as if pushed; the copies are checked
against it tag by tag (by the registry's own answers, ``tests/support/images.tag_digests``).

The targets are fresh Debian ``docker-registry`` processes with htpasswd (bcrypt, as in the other
benchmarks: both tools pay it on every request), or open with ``--auth none``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.migrate_bench import PASSWORD, USER, run_migrate, run_skopeo  # noqa: E402
from tests.support import images as im  # noqa: E402
from tests.support.registry import RunningRegistry, start_registry  # noqa: E402

NAMESPACE = "mlrun"


def layout(repos: int, tags: int, seed: int = 5) -> dict[str, dict[str, im.Image]]:
    """``{repository: {tag: image}}``: ``tags`` spread over ``repos`` repositories under mlrun/."""
    rng = random.Random(seed)
    pool = [im.random_layer(rng, rng.randint(300, 3000), name=f"f{i}.bin") for i in range(16)]
    out: dict[str, dict[str, im.Image]] = {}
    for r in range(repos):
        repo = f"{NAMESPACE}/func-scale{r % 20}-fn{r}"
        count = tags // repos + (1 if r < tags % repos else 0)
        layers = rng.sample(pool, 2)
        out[repo] = {f"v{t}": im.build_image(layers, oci=bool(r % 2), label=f"{repo}:v{t}") for t in range(count)}
    return out


def seed_storage(data: Path, images: dict[str, dict[str, im.Image]]) -> None:
    """Write the images into a filesystem storage root as distribution 2.8 lays it out."""
    base = data / "docker" / "registry" / "v2"
    written: set[str] = set()

    def blob(digest: str, content: bytes) -> None:
        if digest in written:
            return
        written.add(digest)
        hexd = digest.split(":", 1)[1]
        path = base / "blobs" / "sha256" / hexd[:2] / hexd / "data"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    def link(path: Path, digest: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "link").write_text(digest)

    for repo, tags in images.items():
        top = base / "repositories" / repo
        for tag, image in tags.items():
            for item in image.blobs:
                assert item.data is not None
                blob(item.digest, item.data)
                link(top / "_layers" / "sha256" / item.digest.split(":", 1)[1], item.digest)
            blob(image.digest, image.manifest)
            hexd = image.digest.split(":", 1)[1]
            link(top / "_manifests" / "revisions" / "sha256" / hexd, image.digest)
            link(top / "_manifests" / "tags" / tag / "current", image.digest)
            link(top / "_manifests" / "tags" / tag / "index" / "sha256" / hexd, image.digest)


def expected_digests(images: dict[str, dict[str, im.Image]]) -> dict[str, str]:
    return {f"{repo}:{tag}": image.digest for repo, tags in images.items() for tag, image in tags.items()}


def check(target: RunningRegistry, expected: dict[str, str], tool: str) -> None:
    got = im.tag_digests(target.url, (USER, PASSWORD) if target.auth == "htpasswd" else None)
    if got != expected:
        missing = sorted(set(expected) - set(got))
        wrong = sorted(k for k in expected if k in got and got[k] != expected[k])
        raise SystemExit(f"{tool}: target differs from the source: {len(missing)} missing {missing[:3]}, "
                         f"{len(wrong)} wrong {wrong[:3]}")


def one_size(workdir: Path, repos: int, tags: int, jobs: int, auth: str, with_skopeo: bool) -> dict[str, float]:
    """Seed a source, then cold copy + re-run with migrate (and skopeo); seconds and peak RSS (MB)."""
    started: list[RunningRegistry] = []
    try:
        t0 = time.perf_counter()
        images = layout(repos, tags)
        root = workdir / f"source-{repos}-{tags}"
        seed_storage(root / "data", images)
        source = start_registry(workdir, root=root)
        started.append(source)
        expected = expected_digests(images)
        print(f"  seeded {len(expected)} tags in {len(images)} repositories in {time.perf_counter() - t0:.1f} s "
              "(filesystem layout written directly)", flush=True)
        del images
        out: dict[str, float] = {}
        target = start_registry(workdir, auth=auth, htpasswd_users={USER: PASSWORD})  # type: ignore[arg-type]
        started.append(target)
        out["migrate cold"], report, rss_cold = run_migrate(source, target, jobs)
        check(target, expected, "migrate")
        out["migrate re-run"], rereport, rss_rerun = run_migrate(source, target, jobs)
        if rereport["blobs"]["copied"] or rereport["manifests"]["copied"]:
            raise SystemExit(f"the re-run copied something: {rereport['blobs']} {rereport['manifests']}")
        out["rss cold"], out["rss re-run"] = rss_cold / 1024, rss_rerun / 1024
        print(f"  migrate: cold {out['migrate cold']:.1f} s ({report['blobs']['copied']} blobs copied, "
              f"{report['blobs']['mounted']} mounted, {report['manifests']['copied']} manifests), peak RSS "
              f"{out['rss cold']:.0f} MB; re-run {out['migrate re-run']:.2f} s, peak RSS {out['rss re-run']:.0f} MB",
              flush=True)
        target.stop()
        if with_skopeo:
            target = start_registry(workdir, auth=auth, htpasswd_users={USER: PASSWORD})  # type: ignore[arg-type]
            started.append(target)
            names = sorted({k.split(":", 1)[0] for k in expected})
            out["skopeo cold"] = run_skopeo(source, target, names, workdir)
            check(target, expected, "skopeo")
            out["skopeo re-run"] = run_skopeo(source, target, names, workdir)
            print(f"  skopeo:  cold {out['skopeo cold']:.1f} s; re-run {out['skopeo re-run']:.2f} s", flush=True)
        return out
    finally:
        for registry in started:
            registry.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument("--tags", type=int, default=10000)
    parser.add_argument("--small", type=float, default=0.25, help="second size for the memory check (0: skip)")
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--auth", choices=("htpasswd", "none"), default="htpasswd")
    parser.add_argument("--no-skopeo", action="store_true",
                        help="leave skopeo sync out: only migrate's runs and its memory (quick)")
    args = parser.parse_args()
    if not args.no_skopeo and not shutil.which("skopeo"):
        raise SystemExit("skopeo is not installed (apt-get install skopeo)")
    if args.tags < args.repos:
        raise SystemExit("--tags must be at least --repos (every repository has a tag)")
    skopeo = ("skopeo left out" if args.no_skopeo
              else subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.strip())
    workdir = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    try:
        print(f"{args.repos} repositories, {args.tags} tags, --jobs {args.jobs}, target auth {args.auth}; {skopeo}")
        big = one_size(workdir, args.repos, args.tags, args.jobs, args.auth, with_skopeo=not args.no_skopeo)
        small = None
        if args.small > 0:
            repos, tags = max(1, int(args.repos * args.small)), max(1, int(args.tags * args.small))
            print(f"memory at a second size: {repos} repositories, {tags} tags (migrate only)")
            small = one_size(workdir, repos, tags, args.jobs, args.auth, with_skopeo=False)
        print()
        peak = max(big["rss cold"], big["rss re-run"])
        if not args.no_skopeo:
            rerun = big["skopeo re-run"] / big["migrate re-run"]
            cold = big["skopeo cold"] / big["migrate cold"]
            print(f"re-run, nothing new: migrate {big['migrate re-run']:.2f} s, skopeo {big['skopeo re-run']:.2f} s: "
                  f"skopeo / migrate = {rerun:.1f}x (goal >= 3x: {'met' if rerun >= 3 else 'NOT met'})")
            print(f"cold copy: migrate {big['migrate cold']:.1f} s, skopeo {big['skopeo cold']:.1f} s: "
                  f"skopeo / migrate = {cold:.1f}x")
        print(f"peak RSS of migrate: {peak:.0f} MB (goal < 200 MB: {'met' if peak < 200 else 'NOT met'})")
        if small is not None:
            grown = args.tags - int(args.tags * args.small)
            per = {}
            for kind in ("re-run", "cold"):
                per[kind] = (big[f"rss {kind}"] - small[f"rss {kind}"]) / grown * 1000
                print(f"RSS {kind}: {small[f'rss {kind}']:.1f} MB at {int(args.tags * args.small)} tags, "
                      f"{big[f'rss {kind}']:.1f} MB at {args.tags} tags: {per[kind]:.2f} MB per 1,000 tags")
            met = per["cold"] <= per["re-run"]
            print(f"memory growth: cold copy {per['cold']:.2f} MB per 1,000 tags, re-run (the listing) "
                  f"{per['re-run']:.2f} (goal: cold <= re-run: {'met' if met else 'NOT met'})")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
