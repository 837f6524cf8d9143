"""physim against Genesis and MuJoCo on the rigid rows, one engine and one size at a time, one JSON line per row.

    python benchmarks/compare_rigid.py [--rows boxes,batched] [--n 64,512] [--peers genesis,mujoco]
                                       [--peer-python /tmp/gvenv/bin/python]

Each engine runs in its own process, one after another: physim with this interpreter (physim's venv), the peers
with ``--peer-python`` (set them up as benchmarks/README.md says). The figure is steps_per_s for ``boxes`` and
env_steps_per_s for ``batched``; ``ratio`` is physim's figure over each peer's (above 1: physim is faster).
A peer that is missing, fails or times out is reported in its entry, with a null ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import layouts as lay

HERE = Path(__file__).resolve().parent
SCRIPTS = {"physim": HERE / "rigid.py", "genesis": HERE / "peers" / "genesis_rigid.py",
           "mujoco": HERE / "peers" / "mujoco_rigid.py"}
FIGURE = {"boxes": "steps_per_s", "batched": "env_steps_per_s"}
KEPT = ("build_s", "at_rest", "max_speed", "min_z", "peak_rss_mb", "capped", "max_collision_pairs", "error")


def measure(python: str, engine: str, row: str, n: int, args) -> dict:
    """One engine at one size, in a fresh process: its JSON record, or an ``error`` saying why there is none."""
    if not Path(python).is_file():
        return {"error": f"no interpreter at {python} (set up the peers: see benchmarks/README.md)"}
    command = [python, str(SCRIPTS[engine]), "--rows", row, "--n", str(n), "--time-limit", str(args.time_limit)]
    if args.steps:
        command += ["--steps", str(args.steps)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s (build and steps)"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{") and '"engine"' in line:
            return json.loads(line)
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {done.returncode}, no result: {' | '.join(tail)}"[:500]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="boxes,batched")
    parser.add_argument("--n", default=None, help="comma-separated sizes (default: each row's, see layouts.py)")
    parser.add_argument("--peers", default="genesis,mujoco", help="comma-separated peers, or '' for physim alone")
    parser.add_argument("--peer-python", default="/tmp/gvenv/bin/python")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=300.0, help="stepping seconds before a run is capped")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds before a run's process is killed")
    args = parser.parse_args()
    peers = [peer.strip() for peer in args.peers.split(",") if peer.strip()]
    for name in peers:
        if name not in SCRIPTS or name == "physim":
            parser.error(f"--peers: unknown peer {name!r} (genesis, mujoco)")
    if peers and not Path(args.peer_python).is_file():
        print(f"compare_rigid: no peer interpreter at {args.peer_python}; peers are reported as missing "
              "(set them up as benchmarks/README.md says)", file=sys.stderr)

    for row in [row.strip() for row in args.rows.split(",") if row.strip()]:
        if row not in FIGURE:
            parser.error(f"--rows: unknown row {row!r} (boxes, batched)")
        for n in [int(x) for x in args.n.split(",")] if args.n else lay.DEFAULT_N[row]:
            records = {"physim": measure(sys.executable, "physim", row, n, args)}
            records.update({peer: measure(args.peer_python, peer, row, n, args) for peer in peers})
            figure = {engine: record.get(FIGURE[row]) for engine, record in records.items()}
            ratio = {peer: round(figure["physim"] / figure[peer], 3) if figure["physim"] and figure[peer] else None
                     for peer in peers}
            details = {engine: {key: record[key] for key in KEPT if key in record}
                       for engine, record in records.items()}
            print(json.dumps({"row": row, "n": n, "figure": FIGURE[row], **figure,
                              "ratio": ratio, "details": details,
                              "device": records["physim"].get("device"),
                              "physim_version": records["physim"].get("physim_version")}), flush=True)


if __name__ == "__main__":
    main()
