#!/usr/bin/env bash
# Checks the deployment files in deploy/ (docs/operations.md):
#   1. the Prometheus alert rules parse (`promtool check rules`) and their unit
#      tests pass (`promtool test rules`: a firing and a quiet series per alert);
#   2. the Grafana dashboard is JSON, every PromQL expression in it parses, and
#      every metric name in it and in the alert rules is one hookgate registers
#      (src/telemetry/metrics.rs, src/worker/metrics.rs);
#   3. both systemd units pass `systemd-analyze verify` with no warning;
#   4. deploy/compose.yaml fits the Dockerfile and the repository
#      (scripts/check-compose.py: health-gated start order, volumes, mounts).
# Run from anywhere: bash scripts/check-deploy.sh. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

# promtool ships in Debian's `prometheus` package (the server comes with it;
# only promtool is used here).
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: installing Debian's prometheus package"
  install_prometheus() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
  }
  if ! { install_prometheus || { as_root apt-get update -qq && install_prometheus; }; }; then
    echo "check-deploy: cannot install promtool (apt-get install prometheus failed;" \
      "needs root and a reachable Debian archive). Install promtool and rerun." >&2
    exit 1
  fi
  # On a host where apt starts services, the package just started a
  # Prometheus server (port 9090, hookgate's default admin port): stop it.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    as_root systemctl disable --now prometheus || true
  fi
fi
command -v promtool >/dev/null 2>&1 || { echo "check-deploy: promtool still missing" >&2; exit 1; }

echo "== alert rules"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

echo "== grafana dashboard"
python3 -m json.tool deploy/grafana/hookgate.json >/dev/null
# Metric names: only hookgate's own, and only ones the code registers. Writes
# the dashboard's expressions (Grafana variables replaced) as recording rules
# for promtool to parse.
PYTHONDONTWRITEBYTECODE=1 python3 - deploy/grafana/hookgate.json deploy/prometheus/alerts.yml \
  "$tmp/dashboard-exprs.yml" <<'PY'
import json
import re
import sys

dashboard, alerts, out = sys.argv[1:4]

# Names the dashboard or rules may use beyond those registered (none now).
PENDING = set()

# Exported names: Registry::with_prefix("p") + r.counter/counters/gauge/add("n").
# Counters get `_total` (OpenMetrics), histograms `_bucket/_sum/_count`.
known = set()
for src in ("src/telemetry/metrics.rs", "src/worker/metrics.rs", "src/pubsub/metrics.rs"):
    text = open(src, encoding="utf-8").read()
    prefix = re.search(r'Registry::with_prefix\("([a-z_]+)"\)', text).group(1)
    for name in re.findall(r'r\.(?:counters?|gauge|add)\(\s*"([a-z_]+)"', text):
        base = f"{prefix}_{name}"
        known |= {base, base + "_total", base + "_bucket", base + "_sum", base + "_count"}
if len(known) < 50:
    sys.exit(f"check-deploy: found only {len(known)} metric names in src/: has the registration moved?")

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "and", "or", "unless", "bool", "offset", "inf", "nan"}

def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # strings
    e = re.sub(r"\{[^}]*\}", "", e)                           # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                          # ranges
    # Grouping clauses go whole, so `sum by (x) (...)` reads as the call `sum (`.
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*(\([^)]*\))?", "", e)
    names = []
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.append(word)
    return names

def exprs_in(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "expr" and isinstance(v, str):
                yield v
            else:
                yield from exprs_in(v)
    elif isinstance(node, list):
        for v in node:
            yield from exprs_in(v)

def alert_exprs(path):
    # The rule file's `expr:` values, single-line or `|` blocks (no YAML module
    # needed on the CI machine).
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        indent, rest = len(m.group(1)), m.group(2).strip()
        if rest not in ("|", ">", "|-", ">-"):
            yield rest
            continue
        block = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i])
            i += 1
        yield "\n".join(block)

errors = []
dash = json.load(open(dashboard, encoding="utf-8"))
dash_exprs = list(exprs_in(dash))
for var in dash["templating"]["list"]:
    if var.get("type") == "query":
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        for name in re.findall(r"label_values\(\s*([a-zA-Z_:][\w:]*)", q):
            dash_exprs.append(name)
alerts_exprs = list(alert_exprs(alerts))
if not dash_exprs or not alerts_exprs:
    sys.exit("check-deploy: no expressions found")
for where, exprs in ((dashboard, dash_exprs), (alerts, alerts_exprs)):
    for expr in exprs:
        for name in metric_names(expr):
            if not name.startswith("hookgate_"):
                errors.append(f"{where}: {name!r} is not a hookgate_ metric in: {expr}")
            elif name not in known and name not in PENDING:
                errors.append(f"{where}: {name!r} is not registered in src/ (typo?) in: {expr}")
if errors:
    sys.exit("\n".join(errors))

# Grafana's variables have no PromQL meaning: give them plausible values.
subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
         "$route": ".*", "$org": ".*"}
with open(out, "w", encoding="utf-8") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for n, expr in enumerate(e for e in exprs_in(dash)):
        for k, v in subst.items():
            expr = expr.replace(k, v)
        if "$" in expr:
            sys.exit(f"check-deploy: unknown Grafana variable in: {expr}")
        f.write(f"      - record: dashboard:expr_{n}\n        expr: {json.dumps(expr)}\n")
print(f"{len(dash_exprs)} dashboard and {len(alerts_exprs)} alert expressions use only registered hookgate_ metrics")
PY
promtool check rules "$tmp/dashboard-exprs.yml" | sed 's/^  SUCCESS: \([0-9]*\) rules found/  SUCCESS: \1 dashboard expressions parse/' | grep -v '^Checking'

echo "== systemd units"
command -v systemd-analyze >/dev/null 2>&1 || {
  echo "check-deploy: systemd-analyze not found (Debian package systemd)" >&2; exit 1; }
units=(deploy/hookgate.service deploy/hookgate-worker.service deploy/hookgate-subscribe.service)
if [ ! -x /usr/local/bin/hookgate ]; then
  # `verify` fails when ExecStart's binary does not exist: check copies (same
  # unit names) whose ExecStart runs /bin/true instead; everything else is
  # the units' own text.
  mkdir "$tmp/units"
  for u in "${units[@]}"; do
    sed 's#^ExecStart=/usr/local/bin/hookgate #ExecStart=/bin/true #' "$u" >"$tmp/units/$(basename "$u")"
  done
  units=("$tmp/units/hookgate.service" "$tmp/units/hookgate-worker.service" "$tmp/units/hookgate-subscribe.service")
fi
# `verify` exits 0 on unknown directives and bad values (it only warns): any
# output is a failure.
out=$(systemd-analyze verify "${units[@]}" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then echo "$out" >&2; echo "check-deploy: systemd-analyze verify warned" >&2; exit 1; fi
echo "  SUCCESS: ${#units[@]} units verified"

echo "== compose file"
PYTHONDONTWRITEBYTECODE=1 python3 scripts/check-compose.py deploy/compose.yaml
echo "check-deploy: all deployment checks passed"
