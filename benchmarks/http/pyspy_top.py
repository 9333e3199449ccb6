"""Summarise a ``py-spy record --format raw --threads`` file: samples per thread kind, and
the functions with the most samples, inclusive and self, optionally only in stacks that
pass through a given function.

    .venv/bin/python -m benchmarks.http.pyspy_top out.txt [--within SyncHandler] [--top 30]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

_THREAD = re.compile(r"^thread \(\d+\): ([^;]*?)(?:-\d+)?;")


def summarise(path: str, within: str | None, top: int, prefix: str) -> str:
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or (within and within not in stack):
                continue
            count = int(count_text)
            total += count
            match = _THREAD.match(stack)
            threads[match.group(1) if match else "?"] += count
            frames = stack.split(";")[1:]
            for frame in set(frames):
                if prefix in frame:
                    inclusive[frame] += count
            own[frames[-1] if frames else "?"] += count
    lines = [f"{total} samples" + (f" in stacks through {within!r}" if within else "")]
    lines += [f"  {name}: {n} ({100 * n / total:.0f}%)" for name, n in threads.most_common()]
    lines.append(f"inclusive (frames matching {prefix!r}):")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--within", help="only stacks with a frame containing this text")
    parser.add_argument("--prefix", default="synapse/", help="frames to list as inclusive")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    print(summarise(args.path, args.within, args.top, args.prefix))


if __name__ == "__main__":
    main()
