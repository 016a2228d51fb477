"""Benchmark of ``POST /model/parse``: NLU latency of the trained model.

Starts ``rasa run --enable-api`` on a free local port with the model, sends
``-n`` parse requests (messages drawn from the training data, in a fixed
order) after a warm-up, and prints the median, 95th and 99th percentile in
milliseconds. It asserts nothing; ``make bench-parse`` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def messages(folder: Path, count: int, seed: int = 7) -> List[str]:
    """``count`` example texts of the NLU data in ``folder``, in a fixed shuffled order."""
    from rasa.shared.nlu.training_data.loading import load_data

    texts = [str(example.get("text")) for example in load_data(str(folder)).intent_examples]
    if not texts:
        raise SystemExit(f"no examples under {folder}")
    random.Random(seed).shuffle(texts)  # noqa: S311 - a fixed sample order, not security
    return [texts[i % len(texts)] for i in range(count)]


def post(url: str, text: str) -> float:
    """Send one parse request; return its latency in ms."""
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310 - http on 127.0.0.1
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310 - local server
        reply.read()
    return (time.perf_counter() - started) * 1000


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 300) -> float:
    """Wait for the server's model to be loaded; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"rasa exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - local server
                if json.loads(reply.read()).get("model_file"):
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit("rasa did not load the model in time")


def percentile(values: List[float], share: float) -> float:
    """Nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def main() -> int:
    """Run the benchmark and print its figures; return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "current.tar.gz")
    parser.add_argument("-n", type=int, default=300, help="timed requests")
    args = parser.parse_args()
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="shopbot-bench-parse-", suffix=".log", delete=False)
    command = [
        sys.executable,
        "-m",
        "shopbot_rasa.server",
        "run",
        "--enable-api",
        "--model",
        str(args.model),
    ]
    command += ["--port", str(port), "--interface", "127.0.0.1"]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        startup = wait_ready(f"{base}/status", process)
        texts = messages(ROOT / "data" / "nlu", args.n + 30)
        for text in texts[:30]:
            post(f"{base}/model/parse", text)
        latencies = [post(f"{base}/model/parse", text) for text in texts[30:]]
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"/model/parse, {args.n} requests, one at a time (model loaded in {startup:.1f} s)")
    print(
        f"median {statistics.median(latencies):.2f} ms   p95 {percentile(latencies, 0.95):.2f} ms"
        f"   p99 {percentile(latencies, 0.99):.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
