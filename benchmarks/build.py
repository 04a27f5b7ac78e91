"""`scad build` when the image is up to date, against `docker image inspect` of the same tag.

Run: .venv/bin/python benchmarks/build.py [--runs N] [--full]
Needs a Docker engine and the base image (see .ci/run). Prints medians and the
ratio to the baseline measured in the same run; --full also times a build that
ignores the layer cache.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import arguments, print_ratios, remove_images, sample_interleaved, timed

SCAD = str(Path(sys.executable).parent / "scad")
CERTS = sorted(str(p) for p in Path("/usr/local/share/ca-certificates").glob("*.crt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--full", action="store_true", help="also time a build without the layer cache"
    )
    args = arguments(parser, runs=2)
    with tempfile.TemporaryDirectory() as root:
        repo = Path(root, "repo")
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        configs = Path(root, "home", "configs")
        configs.mkdir(parents=True)
        configs.joinpath("bench.yml").write_text(
            f"name: bench\nrepos: {{code: {{path: {repo}, workdir: true}}}}\nca_certificates: [{', '.join(CERTS)}]\n"
        )
        env = {**os.environ, "SCAD_HOME": str(Path(root, "home"))}
        started = time.perf_counter()
        built = subprocess.run(
            [SCAD, "build", "bench", "--json"], check=True, capture_output=True, env=env
        )
        print(f"first build (layer cache as found): {time.perf_counter() - started:.1f} s")
        image = json.loads(built.stdout)["image"]
        if args.full:
            full = timed([SCAD, "build", "bench", "--no-cache"], env)
            print(f"full build (--no-cache):            {full:.1f} s")
        commands = {
            "docker image inspect (baseline)": ["docker", "image", "inspect", image],
            "scad build (up to date)": [SCAD, "build", "bench"],
        }
        samples = sample_interleaved(commands, args.runs, env)
        remove_images(image.rsplit(":", 1)[0])
    print()
    print_ratios(samples, "docker image inspect (baseline)")


if __name__ == "__main__":
    main()
