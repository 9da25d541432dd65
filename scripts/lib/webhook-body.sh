# Sourced by scripts/bench.sh and scripts/instructions.sh: the benchmarks' webhook payload.
#
# write_github_body FILE SECRET: writes a 1 KiB GitHub-like JSON body (a push event padded to
# exactly 1,024 bytes) to FILE and prints its X-Hub-Signature-256 header value
# (`sha256=<hex HMAC-SHA256 of the body under SECRET>`, docs PROVIDERS.md, GitHub).
write_github_body() {
  local file=$1 secret=$2
  python3 - "$file" <<'PY'
import json, sys
doc = {"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40,
       "repository": {"id": 1, "full_name": "octo/bench"}, "pusher": {"name": "bench"},
       "pad": ""}
base = len(json.dumps(doc, separators=(",", ":")))
doc["pad"] = "x" * (1024 - base)
data = json.dumps(doc, separators=(",", ":")).encode()
assert len(data) == 1024, len(data)
open(sys.argv[1], "wb").write(data)
PY
  echo "sha256=$(openssl dgst -sha256 -hmac "$secret" -r "$file" | cut -d' ' -f1)"
}
