#!/usr/bin/env python3
"""Helpers of scripts/worker-soak.sh (the worker soak of issue #15).

Subcommands (all bounded in time, all on 127.0.0.1):
  load     Outbound Messages over TLS to the gateway: N Notifications of Account across the
           orgs, PER_POST Notifications per POST, spread over DURATION s; exactly 1 % of the
           records (seeded) carry a badly typed value, half an `AnnualRevenue` of `n/a` (the
           worker's typed mapping refuses it, no call), half a `Customer_Since__c` that is no
           date (Salesforce refuses the whole call with JSON_PARSER_ERROR; the worker isolates
           it). Writes expected.tsv (one line per Notification) and posts.tsv (one per POST).
  wait     polls the work queue, its retry queues and the DLQ (passive declares) and each
           simulator's /_sfsim/summary until every good record is written and every bad one
           dead-lettered with the queues empty, or the deadline (needs pika)
  dlq      reads the dead-letter queue (auto-ack): notification id, org id, x-hookgate-error
  cleanup  deletes the run's queues and exchanges (needs pika)
  report   checks the simulators' summaries, the DLQ and the worker's metrics and log against
           expected.tsv; prints the figures; exit 1 on any violation

Standard library only, except `wait`, `dlq` and `cleanup` (pika: worker-soak.sh runs them
from a venv in its temp dir).
"""

import argparse
import asyncio
import collections
import json
import random
import ssl
import sys
import time
import urllib.request

# === ids =======================================================================

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def id18(id15):
    """The 18-character form of a 15-character Salesforce id (SALESFORCE.md section 5)."""
    suffix = ""
    for i in range(3):
        bits = sum(1 << j for j, c in enumerate(id15[i * 5:i * 5 + 5]) if "A" <= c <= "Z")
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + suffix


def make_id(prefix, n):
    """prefix (3) + 12 base-62 digits of n: unique, mixed case, 18 characters."""
    digits = ""
    for _ in range(12):
        digits = ALNUM[n % 62] + digits
        n //= 62
    return id18(prefix + digits)


# === load ======================================================================


def records(args):
    """[(org_id, notification_id, account_id, key, bad)] in sending order; bad is '', 'typed'
    (AnnualRevenue n/a) or 'date' (Customer_Since__c no date)."""
    rng = random.Random(args.seed)
    orgs = [o.split("=", 1)[0] for o in args.orgs.split(",")]
    n_bad = args.n // 100
    bad_idx = sorted(rng.sample(range(args.n), n_bad))
    bad = {i: ("typed" if k % 2 == 0 else "date") for k, i in enumerate(bad_idx)}
    out = []
    base = args.seed % 10_000_000 * 100_000
    for i in range(args.n):
        post = i // args.per_post
        org = orgs[post % len(orgs)]
        out.append((org, make_id("04l", base + i), make_id("001", base + i),
                    f"WS-{args.seed}-{i:06d}", bad.get(i, "")))
    return out


def envelope(org, notes):
    org15 = org[:15]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04kHs000000GmaBIAS</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/{org15}</EnterpriseUrl>"
        f"<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/{org15}</PartnerUrl>"]
    for (_, nid, acc, key, bad) in notes:
        revenue = "n/a" if bad == "typed" else "120000.0"
        since = "31/12/2024" if bad == "date" else "2024-12-31"
        parts.append(
            f"<Notification><Id>{nid}</Id>"
            '<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f"<sf:Id>{acc}</sf:Id><sf:Account_Key__c>{key}</sf:Account_Key__c>"
            f"<sf:AnnualRevenue>{revenue}</sf:AnnualRevenue>"
            f"<sf:Customer_Since__c>{since}</sf:Customer_Since__c>"
            f"<sf:Name>Soak {key}</sf:Name></sObject></Notification>")
    parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
    return "".join(parts).encode()


async def read_status(reader):
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed before the status line")
    status = int(line.split()[1])
    length, keep = 0, True
    while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = h.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and "close" in value:
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def load_main(args):
    recs = records(args)
    with open(args.expected, "w") as f:
        f.write("org_id\tnotification_id\taccount_id\tkey\tbad\n")
        for r in recs:
            f.write("\t".join(r) + "\n")
    posts = [recs[i:i + args.per_post] for i in range(0, len(recs), args.per_post)]
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.set_alpn_protocols(["http/1.1"])
    host = f"127.0.0.1:{args.port}"
    t0 = time.monotonic()
    paths = dict(o.split("=", 1) for o in args.orgs.split(","))
    queue = collections.deque(enumerate(posts))
    log = open(args.log, "w", buffering=1)
    log.write("post\torg_id\tnotifications\tattempts\tstatus\n")
    counts = collections.Counter()

    async def sender():
        reader = writer = None
        while queue:
            i, notes = queue.popleft()
            due = t0 + i * args.duration / len(posts)
            await asyncio.sleep(max(0, due - time.monotonic()))
            body = envelope(notes[0][0], notes)
            raw = (f"POST {paths[notes[0][0]]} HTTP/1.1\r\nHost: {host}\r\n"
                   "Content-Type: text/xml; charset=utf-8\r\nSOAPAction: \"\"\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            status, attempt = "none", 0
            # Salesforce re-sends until it gets an Ack: so does the loader (bounded).
            while attempt < args.attempts:
                attempt += 1
                try:
                    if writer is None:
                        reader, writer = await asyncio.wait_for(asyncio.open_connection(
                            "127.0.0.1", args.port, ssl=ctx, server_hostname="localhost"), 10)
                    writer.write(raw)
                    code, keep = await asyncio.wait_for(read_status(reader), 60)
                    status = str(code)
                    if not keep:
                        writer.close()
                        writer = None
                except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                        ValueError, IndexError, ssl.SSLError) as e:
                    status = "err:" + type(e).__name__
                    if writer is not None:
                        writer.transport.abort()
                    writer = None
                if status == "200":
                    break
                await asyncio.sleep(1)
            counts[status] += 1
            log.write(f"{i}\t{notes[0][0]}\t{len(notes)}\t{attempt}\t{status}\n")
        if writer is not None:
            writer.close()

    await asyncio.gather(*(sender() for _ in range(args.concurrency)))
    log.close()
    print(f"posts {len(posts)} notifications {len(recs)} bad {sum(1 for r in recs if r[4])} "
          f"seconds {time.monotonic() - t0:.1f} " + " ".join(f"status_{k}={v}" for k, v in sorted(counts.items())))
    return 0 if counts.get("200", 0) == len(posts) else 1


# === broker ====================================================================


def depth(ch_factory, name):
    """Ready messages of a queue, or None if it does not exist."""
    import pika
    conn, ch = ch_factory()
    try:
        return ch.queue_declare(queue=name, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return None
    finally:
        try:
            conn.close()
        except Exception:
            pass


def channel_factory(url):
    import pika

    def make():
        conn = pika.BlockingConnection(pika.URLParameters(url))
        return conn, conn.channel()
    return make


def summary(url, records=False):
    q = "" if records else "?records=0"
    with urllib.request.urlopen(f"{url}/_sfsim/summary{q}", timeout=10) as r:
        return json.load(r)


def load_expected(path):
    with open(path) as f:
        next(f)
        return [line.rstrip("\n").split("\t") for line in f]


def wait(args):
    """Done when every good record is written, the DLQ holds the bad ones, and the work and
    retry queues are empty twice in a row (the worker may hold unacked deliveries, which
    passive declares do not count: the write and DLQ counts cover those)."""
    make = channel_factory(args.amqp)
    exp = load_expected(args.expected)
    good = sum(1 for r in exp if not r[4])
    bad = len(exp) - good
    deadline = time.monotonic() + args.timeout
    quiet, last = 0, None
    while True:
        try:
            written = sum(summary(u)["records_written"] for u in args.sim)
        except OSError as e:
            written = f"? ({e})"
        queues = {q: depth(make, q) for q in [args.queue, *args.retry_queue]}
        dead = depth(make, args.dlq) or 0
        busy = sum(v or 0 for v in queues.values())
        line = f"written {written}/{good} dead {dead}/{bad} queued {busy}"
        if line != last:
            print(f"[{time.strftime('%H:%M:%S')}] {line} " +
                  " ".join(f"{k.rsplit('.', 1)[-1] if '.retry.' in k else k}={v}" for k, v in queues.items()),
                  flush=True)
            last = line
        done = written == good and dead >= bad and busy == 0
        quiet = quiet + 1 if done else 0
        if quiet >= 2:
            return 0
        if time.monotonic() > deadline:
            print(f"deadline: {line}", flush=True)
            return 1
        time.sleep(args.interval)


def dlq(args):
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(args.amqp))
    ch = conn.channel()
    n = 0
    with open(args.out, "w") as out:
        for method, props, body in ch.consume(args.dlq, auto_ack=True, inactivity_timeout=3):
            if method is None:
                break
            try:
                msg = json.loads(body)
                nid, org = msg.get("notification_id", "-"), msg.get("organization_id", "-")
            except (ValueError, AttributeError):
                nid = org = "-"
            headers = props.headers or {}
            err = headers.get("x-hookgate-error", b"-")
            if isinstance(err, bytes):
                err = err.decode(errors="replace")
            err = str(err).replace("\t", " ").replace("\n", " ")
            out.write(f"{nid}\t{org}\t{headers.get('x-hookgate-attempt', '-')}\t{err}\n")
            n += 1
    ch.cancel()
    conn.close()
    print(f"dead-lettered {n}")
    return 0


def cleanup(args):
    import pika
    make = channel_factory(args.amqp)
    gone = []
    for q in args.queue:
        conn, ch = make()
        try:
            ch.queue_delete(queue=q)
            gone.append(q)
        except Exception:
            pass
        finally:
            try:
                conn.close()
            except Exception:
                pass
    for x in args.exchange:
        conn, ch = make()
        try:
            ch.exchange_delete(exchange=x)
            gone.append("exchange " + x)
        except Exception:
            pass
        finally:
            try:
                conn.close()
            except Exception:
                pass
    print("deleted: " + (", ".join(gone) or "nothing"))
    return 0


# === report ====================================================================


def metrics(path):
    out = {}
    try:
        for line in open(path):
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    except OSError:
        pass
    return out


def log_time(ts):
    """Seconds of an RFC 3339 timestamp (nanoseconds allowed)."""
    import datetime
    ts = ts.replace("Z", "+00:00")
    if "." in ts:
        head, rest = ts.split(".", 1)
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        ts = f"{head}.{frac[:6]:0<6}{tz}"
    return datetime.datetime.fromisoformat(ts).timestamp()


def pauses(path):
    """[(reason, org, seconds)] from the worker's JSON log: a pause runs from its "worker paused"
    line to the next "worker resumed" or "worker paused" (a change of reason) of the same org."""
    out, open_ = [], {}
    try:
        for line in open(path, errors="replace"):
            if "worker paused" not in line and "worker resumed" not in line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            f = {**ev, **ev.get("fields", {}), **ev.get("span", {})}
            msg = str(f.get("message", ""))
            org = f.get("org", f.get("org_name", "-"))
            try:
                t = log_time(ev["timestamp"])
            except (KeyError, ValueError):
                continue
            if org in open_:
                reason, since = open_.pop(org)
                out.append((reason, org, t - since))
            if msg.startswith("worker paused"):
                open_[org] = (f.get("reason", "?"), t)
        for org, (reason, since) in open_.items():
            out.append((reason + " (not resumed)", org, 0.0))
    except OSError:
        pass
    return out


def report(args):
    exp = load_expected(args.expected)
    by_key = {r[3]: r for r in exp}
    by_nid = {r[1]: r for r in exp}
    sims = []  # (org_id, summary)
    for spec in args.summary:
        org, path = spec.split("=", 1)
        sims.append((org, json.load(open(path))))
    violations = []
    # every good record written exactly once in its own org, none in another
    written = collections.defaultdict(dict)  # key -> {org: (writes, fields)}
    for org, s in sims:
        for rec in s.get("records", []):
            key = rec["fields"].get("Account_Key__c")
            if rec["sobject"].lower() == "account" and key:
                written[key][org] = (rec["writes"], rec["fields"])
    good = [r for r in exp if not r[4]]
    bad = [r for r in exp if r[4]]
    missing, twice, wrong_org, wrong_value, bad_written = [], [], [], [], []
    for org, nid, acc, key, _ in good:
        w = written.get(key, {})
        if org not in w:
            missing.append(key)
        elif w[org][0] != 1:
            twice.append(f"{key} x{w[org][0]}")
        else:
            f = w[org][1]
            if f.get("AnnualRevenue") != 120000 or f.get("Description") != nid:
                wrong_value.append(f"{key}: AnnualRevenue={f.get('AnnualRevenue')!r} Description={f.get('Description')!r}")
        if any(o != org for o in w):
            wrong_org.append(key)
    for r in bad:
        if r[3] in written:
            bad_written.append(r[3])
    unknown_written = [k for k in written if k not in by_key]
    # the DLQ: exactly the bad records, each with its reason
    dead = collections.defaultdict(list)
    for line in open(args.dlq):
        nid, org, attempt, err = line.rstrip("\n").split("\t", 3)
        dead[nid].append(err)
    dead_good = [n for n in dead if n in by_nid and not by_nid[n][4]]
    dead_unknown = [n for n in dead if n not in by_nid]
    dead_twice = [n for n, e in dead.items() if len(e) > 1]
    bad_missing, bad_reason = [], []
    for org, nid, acc, key, kind in bad:
        if nid not in dead:
            bad_missing.append(nid)
            continue
        err = dead[nid][0]
        ok = ("AnnualRevenue" in err and "n/a" in err) if kind == "typed" else err.startswith("JSON_PARSER_ERROR")
        if not ok:
            bad_reason.append(f"{nid} ({kind}): {err}")
    lost = [r[3] for r in good if r[3] in missing and r[1] not in dead]
    checks = [
        ("good records written exactly once in their org", len(good) - len(missing) - len(twice), len(good)),
        ("good records missing (LOST unless dead-lettered)", len(missing), 0),
        ("records written more than once", len(twice) + sum(len(s.get("written_more_than_once", [])) for _, s in sims), 0),
        ("good records written in another org", len(wrong_org), 0),
        ("good records with a wrong value", len(wrong_value), 0),
        ("bad records written", len(bad_written), 0),
        ("records written that were never sent", len(unknown_written), 0),
        ("bad records dead-lettered", len(bad) - len(bad_missing), len(bad)),
        ("bad records dead-lettered without their reason", len(bad_reason), 0),
        ("good records dead-lettered", len(dead_good), 0),
        ("unknown messages in the DLQ", len(dead_unknown), 0),
        ("messages dead-lettered twice", len(dead_twice), 0),
        ("LOST (neither written nor dead-lettered)", len(lost), 0),
    ]
    for name, got, want in checks:
        if got != want:
            violations.append(f"{name}: {got} (want {want})")
    # figures
    n = len(exp)
    kinds = collections.Counter()
    statuses = collections.Counter()
    for _, s in sims:
        for kind, v in s["calls"].items():
            kinds[kind] += v["total"]
            for st, c in v["by_status"].items():
                statuses[f"{kind} {st}"] += c
    api = kinds["token"] + kinds["collections"] + kinds["describe"]
    m = metrics(args.metrics)

    def metric_sum(prefix):
        return sum(v for k, v in m.items() if k == prefix or k.startswith(prefix + "{"))
    reasons = collections.Counter(e[0].split(":", 1)[0] for e in dead.values())
    ps = pauses(args.worker_log)
    print()
    print(f"=== worker soak summary ({args.mode}, seed {args.seed}) ===")
    rows = [
        ("Notifications sent (good / bad)", f"{n} ({len(good)} / {len(bad)})"),
        ("orgs", ", ".join(f"{o}: {sum(1 for r in exp if r[0] == o)}" for o, _ in sims)),
    ]
    for name, got, want in checks:
        rows.append((name, f"{got}" + ("" if got == want else f"   <-- want {want}")))
    rows += [
        ("DLQ reasons", " ".join(f"{k}={v}" for k, v in sorted(reasons.items())) or "-"),
        ("calls by kind (all orgs)", " ".join(f"{k}={v}" for k, v in sorted(kinds.items()))),
        ("calls by kind and status", " ".join(f"{k.replace(' ', ':')}={v}" for k, v in sorted(statuses.items()))),
        ("API calls (token + collections + describe)", api),
        ("API calls per 1,000 Notifications", f"{api * 1000 / n:.1f} (collections alone {kinds['collections'] * 1000 / n:.1f})"),
        ("records sent in collections calls", sum(s.get("records_sent_in_collections", 0) for _, s in sims)),
        ("worker processed / duplicates / retried", f"{metric_sum('hookgate_worker_processed_total'):.0f} / "
                                                     f"{metric_sum('hookgate_worker_duplicates_total'):.0f} / "
                                                     f"{metric_sum('hookgate_worker_retried_total'):.0f}"),
        ("worker dead-lettered (metric)", f"{metric_sum('hookgate_worker_dead_lettered_total'):.0f}"),
        ("worker api_calls / token_requests (metric)", f"{metric_sum('hookgate_worker_api_calls_total'):.0f} / "
                                                        f"{metric_sum('hookgate_worker_token_requests_total'):.0f}"),
        ("pauses (reason org seconds)", "; ".join(f"{r} {o} {s:.1f}" for r, o, s in ps) or "none"),
    ]
    for k, v in rows:
        print(f"{k:<52} {v}")
    for name, items in [("missing", missing), ("written twice", twice), ("wrong org", wrong_org),
                        ("wrong value", wrong_value), ("bad written", bad_written),
                        ("bad not dead-lettered", bad_missing), ("bad reason", bad_reason),
                        ("good dead-lettered", [f"{n}: {dead[n][0]}" for n in dead_good])]:
        for item in items[:args.show]:
            print(f"  {name}: {item}")
    if violations:
        print("VIOLATIONS: " + "; ".join(violations))
        return 1
    return 0


# === main ======================================================================


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("load")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--n", type=int, default=10000)
    s.add_argument("--per-post", type=int, default=50)
    s.add_argument("--orgs", required=True, help="ORG_ID=PATH,...: each org's id (18 characters) and gateway path")
    s.add_argument("--duration", type=float, default=90, help="seconds the POSTs are spread over")
    s.add_argument("--concurrency", type=int, default=4)
    s.add_argument("--attempts", type=int, default=20, help="sends of one POST until it gets 200")
    s.add_argument("--expected", required=True)
    s.add_argument("--log", required=True)
    s = sub.add_parser("wait")
    s.add_argument("--amqp", required=True)
    s.add_argument("--expected", required=True)
    s.add_argument("--sim", action="append", required=True, help="simulator URL (repeat)")
    s.add_argument("--queue", required=True)
    s.add_argument("--retry-queue", action="append", default=[])
    s.add_argument("--dlq", required=True)
    s.add_argument("--timeout", type=float, default=600)
    s.add_argument("--interval", type=float, default=2)
    s = sub.add_parser("dlq")
    s.add_argument("--amqp", required=True)
    s.add_argument("--dlq", required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("cleanup")
    s.add_argument("--amqp", required=True)
    s.add_argument("--queue", action="append", default=[])
    s.add_argument("--exchange", action="append", default=[])
    s = sub.add_parser("report")
    s.add_argument("--expected", required=True)
    s.add_argument("--summary", action="append", required=True, help="ORG_ID=PATH of a simulator's summary")
    s.add_argument("--dlq", required=True)
    s.add_argument("--metrics", required=True)
    s.add_argument("--worker-log", required=True)
    s.add_argument("--mode", default="")
    s.add_argument("--seed", default="")
    s.add_argument("--show", type=int, default=20)
    args = p.parse_args()
    if args.cmd == "load":
        sys.exit(asyncio.run(load_main(args)))
    sys.exit({"wait": wait, "dlq": dlq, "cleanup": cleanup, "report": report}[args.cmd](args))


if __name__ == "__main__":
    main()
