#!/usr/bin/env python3
"""Criterion benches of two commits, in one run, as ratios (BENCHMARKS.md, "Layout").

Builds the `benches` crate of OLD and NEW in worktrees under target/compare-commits/trees, then runs every bench
executable of both alternately, ROUNDS times, and prints each benchmark's median time for
both and the ratio old/new (above 1: NEW is faster). Alternating (and swapping which runs
first every other round) keeps a noisy machine's drift out of the ratio; use an even ROUNDS.

    python3 benches/compare-commits.py OLD NEW [--benches io_forward,csum] [--filter REGEX]
                                       [--rounds 3] [--seconds 3]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def build(repo, commit, root):
    tree = os.path.join(root, commit[:12])
    if not os.path.isdir(tree):
        subprocess.run(["git", "-C", repo, "worktree", "add", "--detach", "-q", tree, commit], check=True)
    # One target directory per commit: cargo hashes a workspace's own crates by their path
    # relative to the workspace, so two trees sharing a target directory build the same file
    # names and the second build overwrites the first's benches (both sides would then run
    # one binary).
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(repo, "target", "compare-commits", "build-" + commit[:12]))
    out = subprocess.run(
        ["cargo", "bench", "-p", "benches", "--no-run", "--message-format=json"],
        cwd=tree, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    ).stdout
    executables = {}
    for line in out.splitlines():
        message = json.loads(line)
        target = message.get("target", {})
        if message.get("executable") and "bench" in target.get("kind", []):
            executables[target["name"]] = message["executable"]
    return tree, executables


def run(tree, executable, filter_, seconds):
    args = [executable, "--bench", "--noplot", "--discard-baseline", "--warm-up-time", "1", "--measurement-time", str(seconds)]
    if filter_:
        args.append(filter_)
    out = subprocess.run(args, cwd=os.path.join(tree, "benches"), check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    times, name = {}, None
    for line in out.splitlines():
        # `name  time: [low unit median unit high unit]`, or the name on a line of its own.
        one_line = re.match(r"^(\S.*?)\s+time:\s+\[\S+ \S+ (\S+) (\S+)", line)
        continued = re.match(r"^\s+time:\s+\[\S+ \S+ (\S+) (\S+)", line)
        if one_line and one_line.group(3) in UNITS:
            times[one_line.group(1)] = float(one_line.group(2)) * UNITS[one_line.group(3)]
        elif continued and name and continued.group(2) in UNITS:
            times[name] = float(continued.group(1)) * UNITS[continued.group(2)]
            name = None  # a `change:` block's `time:` below is in %, not a time
        elif line and not line[0].isspace() and not line.startswith(("Benchmarking", "Found", "Gnuplot")):
            name = line.strip()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--benches", default="io_forward,csum,pipeline,classify,worker_rules")
    parser.add_argument("--filter", default="")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()
    repo = subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()
    # Kept between runs (a tree rebuilt from a fresh checkout rebuilds every crate of it).
    root = os.path.join(repo, "target", "compare-commits", "trees")
    os.makedirs(root, exist_ok=True)
    trees = []
    try:
        built = []
        for commit in (args.old, args.new):
            sha = subprocess.run(["git", "-C", repo, "rev-parse", commit], check=True, stdout=subprocess.PIPE,
                                 text=True).stdout.strip()
            tree, executables = build(repo, sha, root)
            trees.append(tree)
            built.append((commit, tree, executables))
        samples = {}  # (bench, name) -> ([old times], [new times])
        for round_ in range(args.rounds):
            for bench in args.benches.split(","):
                # Odd rounds run NEW first: whichever runs second in a pair is often slower
                # here (measured: up to 1.3x on unchanged code), so the order alternates.
                sides = list(enumerate(built))
                for side, (commit, tree, executables) in (sides if round_ % 2 == 0 else sides[::-1]):
                    if bench not in executables:
                        sys.exit(f"{commit} has no bench {bench}")
                    for name, time in run(tree, executables[bench], args.filter, args.seconds).items():
                        samples.setdefault((bench, name), ([], []))[side].append(time)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        print(f"| benchmark | {args.old} ns | {args.new} ns | old/new |")
        print("|---|---|---|---|")
        for (bench, name), (old, new) in sorted(samples.items()):
            if old and new:
                o, n = statistics.median(old), statistics.median(new)
                print(f"| {name} | {o:.1f} | {n:.1f} | {o / n:.3f} |")
    finally:
        subprocess.run(["git", "-C", repo, "worktree", "prune"], check=False)


if __name__ == "__main__":
    main()
