"""`scad build` when the image is up to date, against `docker image inspect` of the same tag.

Run: .venv/bin/python benchmarks/build.py [--runs N] [--full]
Needs a Docker engine and the base image (see .ci/run). Prints medians and the
ratio to the baseline measured in the same run; --full also times a build that
ignores the layer cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import print_ratios, timed

SCAD = str(Path(sys.executable).parent / "scad")
CERTS = sorted(str(p) for p in Path("/usr/local/share/ca-certificates").glob("*.crt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--full", action="store_true", help="also time a build without the layer cache"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        repo = Path(root, "repo")
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        configs = Path(root, "home", "configs")
        configs.mkdir(parents=True)
        configs.joinpath("bench.yml").write_text(
            f"name: bench\nrepos: {{code: {{path: {repo}, workdir: true}}}}\nca_certificates: [{', '.join(CERTS)}]\n"
        )
        env = {**os.environ, "SCAD_HOME": str(Path(root, "home"))}
        first = timed([SCAD, "build", "bench"], env)
        print(f"first build (layer cache as found): {first:.1f} s")
        if args.full:
            full = timed([SCAD, "build", "bench", "--no-cache"], env)
            print(f"full build (--no-cache):            {full:.1f} s")
        inspect = ["docker", "image", "inspect", "scad-bench:latest"]
        up_to_date = [SCAD, "build", "bench"]
        samples: dict[str, list[float]] = {
            "docker image inspect (baseline)": [],
            "scad build (up to date)": [],
        }
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            samples["docker image inspect (baseline)"].append(timed(inspect, env))
            samples["scad build (up to date)"].append(timed(up_to_date, env))
        images = subprocess.run(
            ["docker", "images", "-q", "scad-bench"], capture_output=True, text=True
        )
        if images.stdout.split():
            subprocess.run(
                ["docker", "rmi", "--force", *set(images.stdout.split())], capture_output=True
            )
    print()
    print_ratios(samples, "docker image inspect (baseline)")


if __name__ == "__main__":
    main()
