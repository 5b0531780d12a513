"""DataMan HTTP client benchmark: documents per second against a chat-completions server on
127.0.0.1 that answers every request after a fixed latency (default 200 ms), at several
concurrencies: the throughput should follow concurrency / latency, showing that the server's
latency and the concurrency, not the client, are the bound.

    python benchmarks/dataman_client.py [--docs 400] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import time

from scorers.dataman.client import ChatClient, Unrated
from scorers.dataman.local_server import serve_chat

ANSWER = "\n".join(["E"] + ["4"] * 14)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    with serve_chat(lambda text: ANSWER, args.latency) as url:
        run(url, args)


def run(url: str, args: argparse.Namespace) -> None:
    texts = [f"Document number {i} with a few words of text." for i in range(args.docs)]
    print(f"\n{args.docs} documents, server latency {args.latency * 1000:.0f} ms per request\n")
    print("| concurrency | seconds | docs/s | bound: concurrency / latency | rated |")
    print("|---:|---:|---:|---:|---:|")
    for concurrency in (1, 8, 32, 64):
        docs = texts if concurrency > 1 else texts[: max(1, args.docs // 8)]
        started = time.time()
        ratings = ChatClient(url, "bench", concurrency=concurrency, timeout=10).rate(docs)
        seconds = time.time() - started
        rated = sum(not isinstance(r, Unrated) for r in ratings)
        print(f"| {concurrency} | {seconds:.1f} | {len(docs) / seconds:,.1f} | {concurrency / args.latency:,.0f} | {rated} of {len(docs)} |", flush=True)


if __name__ == "__main__":
    main()
