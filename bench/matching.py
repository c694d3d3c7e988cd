"""`casebook bench matching`: the order book alone, in process, on the exchange-core command mix,
and the same stream replayed through a C++ peer (liquibook) for a ratio.

What it does:

1. Generates a deterministic stream (`--seed`): a warm-up that rests `--orders` GTC orders over
   about `--levels` price levels (bids below the mid, asks above), then `--commands` commands in
   exchange-core's mix: 9 % GTC places (one in ten priced to cross), 3 % IOC places that take
   liquidity, 6 % cancels, 82 % moves (a REPLACE of a resting order to a new price, same qty).
   The generator drives a real `OrderBook` to know which orders are open, and steers places and
   cancels so the book stays near `--orders` resting orders.
2. Throughput: a fresh book takes the warm-up, then the timed commands through `apply`, events
   collected into a list cleared every 1,024 commands (the venue's batches); commands/s.
3. Latency: a second fresh book times every 64th `apply` with `perf_counter_ns` (timing every
   command would mostly measure the clock): p50/p99/p99.9/max.
4. Peer: writes the stream to a file and runs `--peer-command` (e.g. `'/work/peers/liquibook/replay
   {stream}'`); the peer prints `commands_per_second <n>`; we print our rate as a ratio of it.

Stream file format (text, one command a line, fields separated by one space):

    # casebook-matching-stream 1
    P <order_id> <side 0=buy|1=sell> <price> <qty> <tif 0=GTC|1=IOC>
    C <order_id>
    R <order_id> <new price> <new open qty>
    T                      (the warm-up ends: the peer times what follows)

Run it as `casebook bench matching [--commands N --peer-command CMD]` or `python -m bench.matching`.
The machine is shared: runs are short (a few seconds) and each figure is the best of `--repeat`.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import shlex
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import record
from casebook.engines.matching.book import OrderBook
from casebook.engines.matching.types import CANCEL, PLACE, REPLACE, Side, TimeInForce

NAME = "matching"
REPO = Path(__file__).resolve().parents[1]
TARGET_RATE = 500_000
MID = 100_000
ACCOUNTS = 1_000


@dataclass(frozen=True)
class Options:
    seed: int
    orders: int
    levels: int
    commands: int
    repeat: int
    peer_command: str | None
    save: bool


@dataclass(frozen=True)
class Stream:
    warmup: list[tuple[Any, ...]]
    timed: list[tuple[Any, ...]]


def generate(seed: int, orders: int, levels: int, commands: int) -> Stream:
    """The warm-up and the timed commands; deterministic for a seed. O(commands)."""
    rng = random.Random(seed)
    book = OrderBook(1)
    half = _half_span(orders, levels)
    open_ids: list[int] = []
    where: dict[int, int] = {}
    events: list[tuple[Any, ...]] = []
    next_id = 0

    def sync(order_ids: Sequence[int]) -> None:
        # Keep open_ids equal to the book's open orders for the ids a command touched.
        for order_id in order_ids:
            is_open = book.open_order(order_id) is not None
            if is_open and order_id not in where:
                where[order_id] = len(open_ids)
                open_ids.append(order_id)
            elif not is_open and order_id in where:
                index = where.pop(order_id)
                last = open_ids.pop()
                if last != order_id:
                    open_ids[index] = last
                    where[last] = index

    def run(command: tuple[Any, ...]) -> None:
        events.clear()
        book.apply(command, events)
        touched = [command[1]]
        for event in events:
            touched.append(event[1])
            if event[0] == 10:  # TRADE: the maker is event[2], the taker event[4]
                touched.append(event[2])
        sync(touched)

    def passive_price(side: int) -> int:
        offset = rng.randint(1, half)
        return MID - offset if side == Side.BUY else MID + offset

    def new_place(tif: int, aggressive: bool) -> tuple[Any, ...]:
        nonlocal next_id
        next_id += 1
        side = rng.randint(0, 1)
        if aggressive:
            best = book.best_ask() if side == Side.BUY else book.best_bid()
            edge = best if best is not None else MID
            price = (
                edge + rng.randint(0, 3) if side == Side.BUY else max(1, edge - rng.randint(0, 3))
            )
        else:
            price = passive_price(side)
        qty = rng.randint(1, 100)
        account = rng.randrange(ACCOUNTS)
        return (PLACE, next_id, account, side, price, qty, tif, 0, 0, 0)

    warmup = []
    for _ in range(orders):
        command = new_place(TimeInForce.GTC, False)
        run(command)
        warmup.append(command)
    timed = []
    accounts: dict[int, int] = {c[1]: c[2] for c in warmup}
    for ts in range(1, commands + 1):
        roll = rng.random()
        kind = (
            "gtc" if roll < 0.09 else "ioc" if roll < 0.12 else "cancel" if roll < 0.18 else "move"
        )
        # Steer back towards the target depth (places and cancels trade places).
        if kind == "gtc" and len(open_ids) > orders * 1.1:
            kind = "cancel"
        elif (kind == "cancel" and len(open_ids) < orders * 0.9) or not open_ids:
            kind = "gtc"
        if kind == "gtc" or kind == "ioc":
            command = new_place(
                TimeInForce.GTC if kind == "gtc" else TimeInForce.IOC,
                kind == "ioc" or rng.random() < 0.1,
            )
            command = (*command[:-1], ts)
            accounts[command[1]] = command[2]
        elif kind == "cancel":
            order_id = rng.choice(open_ids)
            command = (CANCEL, order_id, accounts[order_id], ts)
        else:
            order_id = rng.choice(open_ids)
            _, side, _, qty = book.open_order(order_id)  # type: ignore[misc]
            command = (REPLACE, order_id, accounts[order_id], passive_price(side), qty, ts)
        run(command)
        timed.append(command)
    return Stream(warmup, timed)


def _half_span(orders: int, levels: int) -> int:
    """Ticks each side of the mid to spread prices over, so that `orders` orders at uniformly
    random prices occupy about `levels` distinct levels:
    span * (1 - exp(-orders / span)) = levels."""
    span = levels
    while span < 100 * levels and span * (1 - math.exp(-orders / span)) < levels:
        span += 1
    return max(1, span // 2)


def write_stream(stream: Stream, path: Path) -> None:
    """The stream in the documented text format."""
    lines = ["# casebook-matching-stream 1"]
    for i, command in enumerate([*stream.warmup, None, *stream.timed]):
        if command is None:
            lines.append("T")
            continue
        kind = command[0]
        if kind == PLACE:
            lines.append(f"P {command[1]} {command[3]} {command[4]} {command[5]} {command[6]}")
        elif kind == CANCEL:
            lines.append(f"C {command[1]}")
        elif kind == REPLACE:
            lines.append(f"R {command[1]} {command[3]} {command[4]}")
        else:
            raise ValueError(f"command {i} of kind {kind} has no stream form")
    path.write_text("\n".join(lines) + "\n")


def throughput(stream: Stream, collector: bool = False) -> tuple[float, int]:
    """Commands per second through `OrderBook.apply` and the events produced; with `collector`
    the cyclic gc stays on in the timed loop (as in the venue's writer)."""
    book = OrderBook(1)
    out: list[tuple[Any, ...]] = []
    for command in stream.warmup:
        book.apply(command, out)
    timed = stream.timed
    chunks = [timed[i : i + 1024] for i in range(0, len(timed), 1024)]
    apply = book.apply
    events = 0
    gc.collect()
    if not collector:
        gc.disable()
    try:
        start = time.perf_counter()
        for chunk in chunks:
            out = []
            for command in chunk:
                apply(command, out)
            events += len(out)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return len(timed) / elapsed, events


def latencies(stream: Stream, every: int = 64) -> dict[str, float]:
    """Percentiles (µs) of `apply` for every `every`-th timed command."""
    book = OrderBook(1)
    out: list[tuple[Any, ...]] = []
    for command in stream.warmup:
        book.apply(command, out)
    samples: list[int] = []
    clock = time.perf_counter_ns
    apply = book.apply
    for index, command in enumerate(stream.timed):
        if index % every:
            apply(command, out)
        else:
            start = clock()
            apply(command, out)
            samples.append(clock() - start)
        if len(out) > 4096:
            out.clear()
    samples.sort()

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, int(p * len(samples)))] / 1000

    return {
        "samples": len(samples),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "p999_us": pct(0.999),
        "max_us": samples[-1] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
    }


def run_peer(command: str, stream_path: Path) -> tuple[float, int | None]:
    """The peer's commands/s (its `commands_per_second <n>` line) and, when it prints a
    `resting_orders <n>` line, how many orders rest on its book at the end."""
    argv = [part.replace("{stream}", str(stream_path)) for part in shlex.split(command)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300)
    values = dict(line.split(maxsplit=1) for line in done.stdout.splitlines() if " " in line)
    if "commands_per_second" not in values:
        raise RuntimeError(f"the peer printed no commands_per_second line: {done.stdout!r}")
    resting = values.get("resting_orders")
    return float(values["commands_per_second"]), int(resting) if resting else None


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="casebook bench matching", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--orders", type=int, default=1_000, help="resting orders to keep")
    parser.add_argument("--levels", type=int, default=750, help="price levels the orders span")
    parser.add_argument("--commands", type=int, default=1_000_000, help="timed commands")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs; the best counts")
    parser.add_argument("--peer-command", help="e.g. '/work/peers/liquibook/replay {stream}'")
    parser.add_argument("--no-save", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    return Options(
        seed=args.seed,
        orders=args.orders,
        levels=args.levels,
        commands=args.commands,
        repeat=args.repeat,
        peer_command=args.peer_command,
        save=not args.no_save,
    )


def markdown(options: Options, report: dict[str, Any]) -> str:
    machine = report["machine"]
    ours = report["ours"]
    lat = report["latency"]
    peer = report.get("peer_commands_per_second")
    lines = [
        f"# Matching engine benchmark — {report['date']}",
        "",
        f"- machine: {machine['nproc']} cores,"
        f" {machine['cpu']}, {machine['memory_gb']} GB RAM, Linux {machine['kernel']},"
        f" Python {machine['python']}",
        f"- commit: {report['commit']}",
        f"- load average when the run started: {report['load_average']:.2f} on"
        f" {machine['nproc']} cores (above ~1, other work shares the machine and figures vary"
        " run to run by up to ~2x)",
        f"- stream: seed {options.seed}, warm-up {options.orders:,} GTC orders over"
        f" ~{options.levels} levels, then {options.commands:,} timed commands"
        " (9 % GTC, 3 % IOC, 6 % cancel, 82 % move);"
        f" {report['mix']}; {ours['events']:,} events; book at the end:"
        f" {report['end_orders']:,} orders on {report['end_levels']:,} levels",
        f"- ours: `OrderBook.apply`, CPython, single thread, best of {options.repeat} runs, with"
        " the cyclic gc off and (as in the venue's writer) on during the timed loop",
        "",
        "| engine | commands/s | vs target 500,000 |",
        "|---|---:|---:|",
        f"| casebook OrderBook (CPython, gc off) | {ours['commands_per_second']:,.0f} |"
        f" {ours['commands_per_second'] / TARGET_RATE:.2f}x |",
        f"| casebook OrderBook (CPython, gc on) | {ours['commands_per_second_gc_on']:,.0f} |"
        f" {ours['commands_per_second_gc_on'] / TARGET_RATE:.2f}x |",
    ]
    if peer:
        lines.append(f"| liquibook (C++, -O2) | {peer:,.0f} | {peer / TARGET_RATE:.2f}x |")
        lines += [
            "",
            "The peer: liquibook (github.com/enewhuis/liquibook, commit 2427613) built outside the"
            " repository with g++ -O2, `book::OrderBook<SimpleOrder*>` with the order-state"
            " callbacks of its SimpleOrderBook but without its depth tracker (the DepthOrderBook"
            " throws on price-changing replaces); it parses the whole stream before timing, like"
            " ours, and tracks no accounts, STP or ids seen. Orders resting at the end:"
            f" liquibook {report.get('peer_end_orders')}, ours {report['end_orders']}.",
        ]
    lines += [
        "",
        f"Latency of one `apply` (every 64th command sampled, {lat['samples']:,} samples):"
        f" p50 {lat['p50_us']:.2f} µs, p99 {lat['p99_us']:.2f} µs, p99.9 {lat['p999_us']:.2f} µs,"
        f" max {lat['max_us']:.1f} µs.",
    ]
    if peer:
        lines += [
            "",
            f"Ratio ours / liquibook: {ours['commands_per_second'] / peer:.3f} with the gc off,"
            f" {ours['commands_per_second_gc_on'] / peer:.3f} with it on"
            f" (liquibook is {peer / ours['commands_per_second']:.1f}x faster).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    stream = generate(options.seed, options.orders, options.levels, options.commands)
    kinds = [c[0] for c in stream.timed]
    iocs = sum(1 for c in stream.timed if c[0] == PLACE and c[6] == TimeInForce.IOC)
    places = kinds.count(PLACE)
    mix = (
        f"actual mix {100 * (places - iocs) / len(kinds):.1f} % GTC,"
        f" {100 * iocs / len(kinds):.1f} % IOC,"
        f" {100 * kinds.count(CANCEL) / len(kinds):.1f} % cancel,"
        f" {100 * kinds.count(REPLACE) / len(kinds):.1f} % move"
    )
    print(
        f"generated {len(stream.timed):,} commands in {time.perf_counter() - started:.1f} s; {mix}"
    )
    best = 0.0
    best_gc_on = 0.0
    events = 0
    for _ in range(options.repeat):
        rate, events = throughput(stream)
        print(f"ours, gc off: {rate:,.0f} commands/s")
        best = max(best, rate)
        rate, _ = throughput(stream, collector=True)
        print(f"ours, gc on: {rate:,.0f} commands/s")
        best_gc_on = max(best_gc_on, rate)
    lat = latencies(stream)
    print(
        f"latency: p50 {lat['p50_us']:.2f} µs, p99 {lat['p99_us']:.2f} µs,"
        f" max {lat['max_us']:.1f} µs"
    )
    end_book = OrderBook(1)
    sink: list[tuple[Any, ...]] = []
    for command in [*stream.warmup, *stream.timed]:
        end_book.apply(command, sink)
        sink.clear()
    bids, asks = end_book.depth(10**9)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": load,
        "machine": record.machine(),
        "commit": record.git_commit(REPO),
        "options": asdict(options),
        "mix": mix,
        "ours": {
            "commands_per_second": best,
            "commands_per_second_gc_on": best_gc_on,
            "events": events,
        },
        "latency": lat,
        "end_orders": end_book.order_count,
        "end_levels": len(bids) + len(asks),
    }
    if options.peer_command:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "stream.txt"
            write_stream(stream, path)
            peer, peer_resting = run_peer(options.peer_command, path)
        report["peer_commands_per_second"] = peer
        report["peer_end_orders"] = peer_resting
        print(f"peer: {peer:,.0f} commands/s; ours/peer = {best / peer:.3f}")
    text = markdown(options, report)
    print(text)
    if options.save:
        json_path, md_path = record.save(NAME, report, text)
        print(f"saved {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
