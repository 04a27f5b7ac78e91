"""``scad-remote-run``: what a run's container does when no files are mounted.

A script in the image (rendered by :mod:`scad.image.render`, run by the container's
Python, no scad in it): it fetches the run's Claude state from the gateway, clones
each repo on the run's branch where a local run sees it, runs Claude as a local
headless run does (its prompt on stdin, stream-json on stdout), pushes every branch
while Claude runs and once more at the end, and uploads the state. The run's token
comes from its environment and reaches git through git's own environment
(``GIT_CONFIG_COUNT``), never an argument list.
"""

from __future__ import annotations

__all__ = ["REMOTE_RUN"]

REMOTE_RUN = r'''#!/usr/bin/env python3
"""scad-remote-run [CLAUDE ARGUMENTS...]: a run whose files come through the gateway.

Environment: SCAD_GATEWAY (the gateway's URL), ANTHROPIC_AUTH_TOKEN (the run's token; or
SCAD_TOKEN_FILE, a file that holds it, such as a swarm secret),
SCAD_BRANCH, SCAD_REPOS (repo keys, space-separated), SCAD_WORKSPACE (where they are
cloned: /workspace), SCAD_WORKDIR (where Claude starts), SCAD_PUSH_SECONDS (between pushes while Claude runs), SCAD_GIT_NAME and
SCAD_GIT_EMAIL (who the run commits as). Claude's exit status is this one's.
"""
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request

HOME = os.path.expanduser("~")
WORKSPACE = os.environ.get("SCAD_WORKSPACE", "/workspace")
PROMPT = os.path.join(HOME, ".scad-prompt.txt")


def say(message):
    print(f"scad-remote-run: {message}", file=sys.stderr, flush=True)


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        say(f"{name} is not set")
        sys.exit(70)
    return value


GATEWAY = env("SCAD_GATEWAY").rstrip("/")
def read_token():
    """The run's token, from its file when it has one (Claude reads it from the
    environment: it is set there, in this process only)."""
    path = os.environ.get("SCAD_TOKEN_FILE")
    if path:
        with open(path) as source:
            os.environ["ANTHROPIC_AUTH_TOKEN"] = source.read().strip()
    return env("ANTHROPIC_AUTH_TOKEN")


TOKEN = read_token()
BRANCH = env("SCAD_BRANCH")
REPOS = env("SCAD_REPOS").split()


def git_env():
    """git's environment: the token as an HTTP header, from git's own variables."""
    found = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    found.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="http.extraHeader",
        GIT_CONFIG_VALUE_0=f"Authorization: Bearer {TOKEN}",
    )
    return found


def git(*args):
    return subprocess.run(["git", *args], env=git_env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL).returncode


def request(method, path, data=None):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    made = urllib.request.Request(GATEWAY + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(made, timeout=600) as answer:
        return answer.read()


def fetch_state():
    """Claude's folder, its settings file and the prompt, where a local run mounts them."""
    places = {"claude": os.path.join(HOME, ".claude"), "claude.json": os.path.join(HOME, ".claude.json"),
              "prompt.txt": PROMPT}
    with tarfile.open(fileobj=io.BytesIO(request("GET", "/scad/state")), mode="r:") as archive:
        for member in archive:
            top, _, rest = member.name.partition("/")
            if top not in places or ".." in member.name.split("/"):
                continue
            target = os.path.join(places[top], rest) if rest else places[top]
            if member.isdir():
                os.makedirs(target, exist_ok=True)
            elif member.isfile():
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.extractfile(member) as source, open(target, "wb") as out:
                    out.write(source.read())


def clone_repos():
    """Each repo cloned from the host, on the run's branch: where its last attempt
    pushed it, or new from the host's HEAD. A clone that cannot learn what was pushed
    does not start: its pushes would overwrite that work."""
    name, email = env("SCAD_GIT_NAME", "scad agent"), env("SCAD_GIT_EMAIL", "agent@scad.invalid")
    for key in REPOS:
        dest = os.path.join(WORKSPACE, key)
        if git("clone", "-q", "--config", f"user.name={name}", "--config", f"user.email={email}",
               f"{GATEWAY}/scad/git/{key}.git", dest) != 0:
            say(f"cannot clone {key}")
            sys.exit(70)
        if git("-C", dest, "fetch", "-q", f"{GATEWAY}/scad/pushed/{key}.git",
               "+refs/heads/*:refs/remotes/pushed/*") != 0:
            say(f"cannot read what the run pushed of {key}")
            sys.exit(70)
        pushed = f"refs/remotes/pushed/{BRANCH}"
        went_on = git("-C", dest, "rev-parse", "-q", "--verify", pushed) == 0
        start = ["-B", BRANCH, pushed] if went_on else ["-b", BRANCH]
        if git("-C", dest, "checkout", "-q", *start) != 0 or not kept_pushed(dest):
            sys.exit(70)


def kept_pushed(dest):
    """The clone's other branches where the last attempt pushed them: every branch is
    pushed at the end, and one left at the host's tip would go back over its work."""
    prefix = "refs/remotes/pushed/"
    listed = subprocess.run(["git", "-C", dest, "for-each-ref", "--format=%(refname)", prefix],
                            env=git_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if listed.returncode != 0:
        say("cannot list what the run pushed")
        return False
    for ref in listed.stdout.split():
        name = ref[len(prefix):]
        if name != BRANCH and git("-C", dest, "update-ref", f"refs/heads/{name}", ref) != 0:
            say(f"cannot go on from the pushed branch {name}")
            return False
    return True


def push_all():
    """Every branch of every clone to the run's store; True when all went."""
    done = True
    for key in REPOS:
        dest = os.path.join(WORKSPACE, key)
        done &= git("-C", dest, "push", "-q", "--porcelain", "origin",
                    "+refs/heads/*:refs/heads/*") == 0
    return done


def upload_state():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, path in (("claude", os.path.join(HOME, ".claude")),
                           ("claude.json", os.path.join(HOME, ".claude.json"))):
            if os.path.lexists(path):
                archive.add(path, arcname=name, filter=regular_only)
    request("PUT", "/scad/state", buffer.getvalue())


def regular_only(info):
    return info if info.isfile() or info.isdir() else None


def pushing(stop, seconds):
    while not stop.wait(seconds):
        push_all()


def main():
    fetch_state()
    clone_repos()
    os.chdir(env("SCAD_WORKDIR", os.path.join(WORKSPACE, REPOS[0])))
    stop = threading.Event()
    pusher = threading.Thread(target=pushing, args=(stop, float(env("SCAD_PUSH_SECONDS", "60"))),
                              daemon=True)
    pusher.start()
    with open(PROMPT, "rb") as prompt:
        status = subprocess.run(["claude", *sys.argv[1:]], stdin=prompt).returncode
    stop.set()
    pusher.join()
    for attempt in range(5):
        if push_all():
            break
        time.sleep(2 * (attempt + 1))
    else:
        say("the branches could not all be pushed")
        status = status or 75
    try:
        upload_state()
    except OSError as exc:
        say(f"the state could not be uploaded: {exc}")
        status = status or 75
    return status


if __name__ == "__main__":
    sys.exit(main())
'''
