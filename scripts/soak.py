#!/usr/bin/env python3
"""Helpers of scripts/soak.sh (the randomized fault soak, issue #12).

Subcommands (all bounded in time, all on 127.0.0.1):
  plan    the chaos schedule for a seed, one action a line (printed, then run by soak.sh)
  proxy   a TCP fault proxy in front of the private RabbitMQ node, switched by one-line
          commands on a control port: `pass`, `delay MS`, `blackhole`, `reset`
  load    signed TLS load on several routes; every request has a unique id and its HTTP
          status (or transport error) is written to a TSV file
  dump    consume queues and write one line per message (needs pika: soak.sh runs it from
          a venv in its temp dir; every other subcommand uses the standard library only)
  report  compare the requests with what was found: sent, 2xx, non-2xx by status, found,
          lost (2xx ids found nowhere), duplicates, unroutable, quarantined

Every request body is a JSON object carrying its `soak_id`, so a message is matched by its
body even when the gateway replaced an unusable delivery id with `sha256:<hex of body>`.
"""

import argparse
import asyncio
import collections
import hashlib
import hmac
import json
import random
import re
import socket
import ssl
import struct
import sys
import time

# === plan ======================================================================

# One deck of fault kinds, dealt shuffled and refilled, so that even a short run sees each.
DECK = ["delay", "blackhole", "reset", "broker_kill", "delay", "quiet"]


def plan(args):
    """Prints `T ACTION ARG HOLD` lines, T in seconds after the load starts.

    ACTION: proxy_delay (ARG ms), proxy_blackhole, proxy_reset, broker_kill (HOLD = the
    seconds the node stays down), gateway_kill (exactly once, in the middle of the run),
    quiet. After HOLD the proxy is set back to pass (or the node restarted)."""
    rng = random.Random(args.seed)
    end = args.duration - 5
    gw_at = rng.uniform(0.3, 0.6) * args.duration
    gw_done = False
    deck, first, last_end = [], True, 0.0
    t = rng.uniform(args.min_gap, args.max_gap)
    while t < end:
        if not gw_done and t >= gw_at:
            print(f"{t:.1f} gateway_kill - 0")
            gw_done = True
            t += rng.uniform(args.min_gap, args.max_gap)
            continue
        if not deck:
            deck = DECK[:]
            rng.shuffle(deck)
            if first:
                # A short run still kills the broker: pop() deals from the end, so move the
                # broker kill into the last three places (the first three faults), and under
                # 60 s to the last place (the first fault).
                i = deck.index("broker_kill")
                j = -1 if args.duration < 60 else -1 - i % 3
                deck[i], deck[j] = deck[j], deck[i]
                first = False
        kind = deck.pop()
        hold = min(rng.uniform(1, args.max_hold), max(end - t, 1))
        if kind == "delay":
            ms = rng.choice([20, 100, 400, 900, 1500, 3000])
            print(f"{t:.1f} proxy_delay {ms} {hold:.1f}")
        elif kind == "blackhole":
            # Past twice the AMQP heartbeat (10 s) the client gives the connection up.
            hold = min(hold * 1.5, max(end - t, 1))
            print(f"{t:.1f} proxy_blackhole - {hold:.1f}")
        elif kind == "reset":
            hold = min(hold / 3, 3)
            print(f"{t:.1f} proxy_reset - {hold:.1f}")
        elif kind == "broker_kill":
            hold = min(rng.uniform(3, 20), max(end - t, 3))
            print(f"{t:.1f} broker_kill - {hold:.1f}")
        else:
            print(f"{t:.1f} quiet - {hold:.1f}")
        last_end = t + hold
        t = last_end + rng.uniform(args.min_gap, args.max_gap)
    if not gw_done:  # the last fault ran past gw_at: right after it, if before the end
        print(f"{min(max(gw_at, last_end), end - 1):.1f} gateway_kill - 0")


# === proxy =====================================================================


class Proxy:
    """Forwards TCP connections to `upstream` in one of four modes (applies to open
    connections too): pass; delay (every chunk held MS ms, order kept); blackhole
    (connections accepted, nothing forwarded either way until the mode changes; bytes
    wait as a partitioned network's retransmissions would); reset (every open connection
    closed with RST on both sides via SO_LINGER 0, and new ones reset at accept)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.mode, self.delay_ms = "pass", 0
        self.open = asyncio.Event()  # set unless blackholed
        self.open.set()
        self.conns = set()
        self.accepted = 0

    def set_mode(self, mode, delay_ms=0):
        self.mode, self.delay_ms = mode, delay_ms
        if mode == "blackhole":
            self.open.clear()
        else:
            self.open.set()
        if mode == "reset":
            for conn in list(self.conns):
                conn.reset()
        log(f"proxy: mode {mode}{f' {delay_ms} ms' if mode == 'delay' else ''}, "
            f"{len(self.conns)} open, {self.accepted} accepted")

    async def handle(self, creader, cwriter):
        self.accepted += 1
        conn = Conn(cwriter)
        if self.mode == "reset":
            conn.reset()
            return
        self.conns.add(conn)
        try:
            await self.open.wait()
            if conn.closed:
                return
            try:
                ureader, uwriter = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.upstream), 5)
            except (OSError, asyncio.TimeoutError):
                conn.reset()  # the node is down: the client sees a reset, as from a dead host
                return
            conn.writers.append(uwriter)
            if conn.closed:
                conn.reset()
                return
            await asyncio.gather(self.pump(creader, uwriter, conn), self.pump(ureader, cwriter, conn))
        finally:
            conn.close()
            self.conns.discard(conn)

    async def pump(self, reader, writer, conn):
        q = asyncio.Queue(maxsize=256)

        async def read():
            try:
                while not conn.closed:
                    data = await reader.read(65536)
                    await q.put((time.monotonic(), data))
                    if not data:
                        return
            except OSError:
                await q.put((0, b""))

        task = asyncio.ensure_future(read())
        try:
            while not conn.closed:
                t, data = await q.get()
                if not data:
                    break
                while True:
                    await self.open.wait()
                    wait = t + (self.delay_ms / 1000 if self.mode == "delay" else 0) - time.monotonic()
                    if wait <= 0 and self.open.is_set():
                        break
                    await asyncio.sleep(min(max(wait, 0), 0.05))  # a mode change applies at once
                if conn.closed:
                    break
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            task.cancel()
            conn.close()


class Conn:
    """Both sides of one proxied connection."""

    def __init__(self, cwriter):
        self.writers = [cwriter]
        self.closed = False

    def reset(self):
        for w in self.writers:
            sock = w.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except (OSError, AttributeError):
                pass
            w.transport.abort()
        self.closed = True

    def close(self):
        if not self.closed:
            self.closed = True
            for w in self.writers:
                w.close()


async def proxy_main(args):
    proxy = Proxy(args.upstream)

    async def control(reader, writer):
        try:
            while line := await reader.readline():
                parts = line.decode().split()
                if parts and parts[0] in ("pass", "blackhole", "reset"):
                    proxy.set_mode(parts[0])
                elif len(parts) == 2 and parts[0] == "delay" and parts[1].isdigit():
                    proxy.set_mode("delay", int(parts[1]))
                elif parts and parts[0] != "status":
                    writer.write(b"error: pass | delay MS | blackhole | reset | status\n")
                    await writer.drain()
                    continue
                writer.write(f"ok {proxy.mode} {proxy.delay_ms} open={len(proxy.conns)}\n".encode())
                await writer.drain()
        finally:
            writer.close()

    await asyncio.start_server(proxy.handle, "127.0.0.1", args.listen)
    await asyncio.start_server(control, "127.0.0.1", args.control)
    log(f"proxy: 127.0.0.1:{args.listen} -> 127.0.0.1:{args.upstream}, control {args.control}, "
        f"stops by itself after {args.lifetime} s")
    await asyncio.sleep(args.lifetime)


# === load ======================================================================

# (route, path, kind, event, weight); kind github or generic_hmac. Which routing keys a
# queue binds is in soak.sh's config: ghb.release and everything of orphan are unbound.
ROUTES = [
    ("gha", "/hooks/gha", "github", "push", 20),
    ("gha", "/hooks/gha", "github", "issues", 15),
    ("ghb", "/hooks/ghb", "github", "push", 20),
    ("ghb", "/hooks/ghb", "github", "release", 10),
    ("gen", "/hooks/gen", "generic_hmac", "order.created", 25),
    ("orphan", "/hooks/orphan", "github", "push", 10),
]


def build_request(seq, rng, args, host):
    """(soak_id, route, event, flags, sent_id, hash_id, request bytes)."""
    route, path, kind, event, _ = rng.choices(ROUTES, weights=[r[4] for r in ROUTES])[0]
    soak_id = f"soak-{args.seed}-{seq:07d}"
    body = json.dumps({"soak_id": soak_id, "route": route, "event": event, "seq": seq,
                       "pad": "p" * rng.randint(200, 1500)}).encode()
    flags, sent_id, ctype = [], soak_id, "application/json"
    if args.oversize_every and rng.random() < 1 / args.oversize_every:
        if rng.random() < 0.5:
            ctype = "application/json; profile=" + "c" * (320 - len("application/json; profile="))
            flags.append("ct320")
        else:
            sent_id = soak_id + "-" + "i" * (300 - len(soak_id) - 1)
            flags.append("id300")
    if kind == "github":
        sig = hmac.new(args.github_secret.encode(), body, hashlib.sha256).hexdigest()
        extra = [("X-GitHub-Event", event), ("X-GitHub-Delivery", sent_id),
                 ("X-Hub-Signature-256", "sha256=" + sig)]
    else:
        ts = str(int(time.time()))
        sig = hmac.new(args.generic_secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        extra = [("X-Event-Type", event), ("X-Request-Id", sent_id), ("X-Timestamp", ts),
                 ("X-Signature", "sha256=" + sig)]
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in extra]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    hash_id = "sha256:" + hashlib.sha256(body).hexdigest()
    return soak_id, route, event, ",".join(flags) or "-", sent_id, hash_id, raw


async def read_response(reader):
    """Status code of one HTTP/1.1 response (body read and dropped), keep-alive flag."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed before the status line")
    status = int(status_line.split()[1])
    length, chunked, keep = 0, False, True
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and "close" in value:
            keep = False
    if chunked:
        while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readline()
    elif length:
        await reader.readexactly(length)
    return status, keep


async def load_main(args):
    rng = random.Random(args.seed)
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.set_alpn_protocols(["http/1.1"])
    host = f"127.0.0.1:{args.port}"
    out = open(args.log, "w", buffering=1)
    out.write("seq\tt_ms\tsoak_id\troute\tevent\tflags\tstatus\tlatency_ms\tsent_id\thash_id\n")
    t0 = time.monotonic()
    next_seq = 0
    counts = collections.Counter()

    def take():
        nonlocal next_seq
        seq = next_seq
        due = t0 + seq / args.rate
        if due >= t0 + args.duration or time.monotonic() >= t0 + args.duration:
            return None
        next_seq += 1
        return seq, due, build_request(seq, rng, args, host)

    async def worker():
        reader = writer = None
        while (job := take()) is not None:
            seq, due, (soak_id, route, event, flags, sent_id, hash_id, raw) = job
            await asyncio.sleep(max(0, due - time.monotonic()))
            start = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(
                        "127.0.0.1", args.port, ssl=ctx, server_hostname="localhost"), 10)
                writer.write(raw)
                status, keep = await asyncio.wait_for(read_response(reader), args.timeout)
                result = str(status)
                if not keep:
                    writer.close()
                    writer = None
            except asyncio.TimeoutError:
                result = "err:timeout"
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError,
                    ssl.SSLError) as e:
                result = "err:" + type(e).__name__
            if result.startswith("err:"):
                if writer is not None:
                    writer.transport.abort()
                    writer = None
                # The gateway is restarting or gone: do not burn the next ids on refusals.
                await asyncio.sleep(0.2)
            counts[result] += 1
            out.write(f"{seq}\t{(start - t0) * 1000:.0f}\t{soak_id}\t{route}\t{event}\t{flags}\t"
                      f"{result}\t{(time.monotonic() - start) * 1000:.1f}\t{sent_id}\t{hash_id}\n")
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    out.close()
    print(f"sent {sum(counts.values())}")
    for k, v in sorted(counts.items()):
        print(f"status {k} {v}")


# === dump ======================================================================


def dump(args):
    """Consumes (auto-ack) every message of each queue; writes queue, soak_id (from the
    body), message_id, content_type length. A queue that cannot be read is reported and
    skipped (own connection per queue); the exit status is then 2."""
    import pika  # only here: the venv soak.sh makes

    failed = []
    with open(args.out, "w") as out:
        for queue in args.queues:
            n = 0
            try:
                conn = pika.BlockingConnection(pika.URLParameters(args.url))
                ch = conn.channel()
                ch.basic_qos(prefetch_count=1000)
                for method, props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=args.idle):
                    if method is None:
                        break
                    try:
                        soak_id = json.loads(body).get("soak_id", "-")
                    except (ValueError, AttributeError):
                        soak_id = "-"
                    out.write(f"{queue}\t{soak_id}\t{props.message_id or '-'}\t{len(props.content_type or '')}\n")
                    n += 1
                ch.cancel()
                conn.close()
                print(f"queue {queue} {n}")
            except Exception as e:  # pika raises many types; the queue is reported, not hidden
                failed.append(queue)
                print(f"queue {queue} {n} UNREADABLE: {type(e).__name__}: {e}")
    return 2 if failed else 0


# === report ====================================================================


def report(args):
    reqs = {}
    by_hash, by_sent = {}, {}
    with open(args.requests) as f:
        next(f)
        for line in f:
            seq, t_ms, soak_id, route, event, flags, status, latency, sent_id, hash_id = line.rstrip("\n").split("\t")
            reqs[soak_id] = (route, event, flags, status, int(t_ms) // 10000 * 10, float(latency))
            by_hash[hash_id] = soak_id
            by_sent[sent_id] = soak_id
    found = collections.defaultdict(list)  # soak_id -> [queue]
    with open(args.found) as f:
        for line in f:
            queue, soak_id, message_id, _ = line.rstrip("\n").split("\t")
            if soak_id == "-":
                soak_id = by_sent.get(message_id) or by_hash.get(message_id) or message_id
            found[soak_id].append(queue)
    quarantined = set()
    if args.quarantine:
        text = open(args.quarantine, errors="replace").read()
        for tok in re.findall(r"soak-\d+-\d+|sha256:[0-9a-f]{64}", text):
            quarantined.add(by_hash.get(tok, tok))

    ok = [i for i, r in reqs.items() if r[3].startswith("2")]
    ok_set = set(ok)
    statuses = collections.Counter(r[3] for r in reqs.values() if not r[3].startswith("2"))
    lost = sorted(i for i in ok if i not in found and i not in quarantined)
    dups = sum(len(q) - 1 for q in found.values() if len(q) > 1)
    unroutable = sum(q.count(args.unroutable_queue) for q in found.values())
    stray = sorted(i for i in found if i in reqs and i not in ok_set)
    unknown = sorted(i for i in found if i not in reqs)

    def pct(vals):
        vals = sorted(vals)
        if not vals:
            return "-"
        return " / ".join(f"{vals[min(len(vals) - 1, int(q * len(vals)))]:.0f}" for q in (0.5, 0.99, 1))

    def by(ids, key):
        return " ".join(f"{k}={v}" for k, v in sorted(collections.Counter(key(i) for i in ids).items())) or "-"

    rows = [
        ("sent", len(reqs)),
        ("2xx", len(ok)),
        ("2xx latency p50 / p99 / max ms", pct([reqs[i][5] for i in ok])),
        ("non-2xx by status", " ".join(f"{k}={v}" for k, v in sorted(statuses.items())) or "-"),
        ("2xx by route.event", by(ok, lambda i: f"{reqs[i][0]}.{reqs[i][1]}")),
        ("oversized requests by flag:status", by([i for i in reqs if reqs[i][2] != "-"],
                                                  lambda i: f"{reqs[i][2]}:{reqs[i][3]}")),
        ("messages found (all queues)", sum(len(q) for q in found.values())),
        ("messages by queue", by([q for qs in found.values() for q in qs], lambda q: q)),
        ("distinct ids found", len(found)),
        ("found, not answered 2xx", f"{len(stray)} ({by(stray, lambda i: reqs[i][3])})"),
        ("found, unknown id", len(unknown)),
        ("duplicates", dups),
        (f"in {args.unroutable_queue}", unroutable),
        ("quarantined", len(quarantined) if args.quarantine else "n/a (no quarantine command)"),
        ("left in the spool at the end", args.spool_left),
        ("LOST (2xx, found nowhere; must be 0)", len(lost)),
    ]
    if args.unreadable:
        rows.append(("UNREADABLE queues (lost is an upper bound)", args.unreadable))
    print()
    print(f"=== soak summary (seed {args.seed}) ===")
    for k, v in rows:
        print(f"{k:<40} {v}")
    if lost:
        print(f"lost by route.event: {by(lost, lambda i: f'{reqs[i][0]}.{reqs[i][1]}')}")
        print(f"lost by flags: {by(lost, lambda i: reqs[i][2])}")
        print(f"lost by send time (10 s from): {by(lost, lambda i: f'{reqs[i][4]:03d}s')}")
        lines = [f"{i} {reqs[i][0]}.{reqs[i][1]} flags={reqs[i][2]} status={reqs[i][3]}" for i in lost]
        if args.lost_out:
            with open(args.lost_out, "w") as f:
                f.write("\n".join(lines) + "\n")
        shown = lines[:args.show_lost]
        print(f"lost ids ({len(shown)} of {len(lines)} shown{f'; all in {args.lost_out}' if args.lost_out else ''}):")
        for line in shown:
            print("  " + line)
    return 1 if lost or args.unreadable else 0


# === main ======================================================================


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("plan")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--min-gap", type=float, default=2)
    s.add_argument("--max-gap", type=float, default=10)
    s.add_argument("--max-hold", type=float, default=10)
    s = sub.add_parser("proxy")
    s.add_argument("--listen", type=int, required=True)
    s.add_argument("--upstream", type=int, required=True)
    s.add_argument("--control", type=int, required=True)
    s.add_argument("--lifetime", type=float, default=3600, help="exit after this many seconds")
    s = sub.add_parser("load")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--rate", type=float, default=50, help="requests per second, all routes")
    s.add_argument("--concurrency", type=int, default=8, help="TLS keep-alive connections")
    s.add_argument("--timeout", type=float, default=30, help="seconds for one response")
    s.add_argument("--oversize-every", type=int, default=40, help="1 request in N has an oversized header; 0 none")
    s.add_argument("--github-secret", required=True)
    s.add_argument("--generic-secret", required=True)
    s.add_argument("--log", required=True)
    s = sub.add_parser("dump")
    s.add_argument("--url", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--idle", type=float, default=3, help="seconds without a message: queue done")
    s.add_argument("queues", nargs="+")
    s = sub.add_parser("report")
    s.add_argument("--seed", required=True)
    s.add_argument("--requests", required=True)
    s.add_argument("--found", required=True)
    s.add_argument("--quarantine")
    s.add_argument("--unroutable-queue", default="hookgate.unroutable")
    s.add_argument("--spool-left", default="?")
    s.add_argument("--lost-out", help="write every lost id here")
    s.add_argument("--unreadable", default="", help="queues that could not be read")
    s.add_argument("--show-lost", type=int, default=100, help="lost ids printed")
    args = p.parse_args()
    if args.cmd == "plan":
        plan(args)
    elif args.cmd == "proxy":
        asyncio.run(proxy_main(args))
    elif args.cmd == "load":
        asyncio.run(load_main(args))
    elif args.cmd == "dump":
        sys.exit(dump(args))
    else:
        sys.exit(report(args))


if __name__ == "__main__":
    main()
