// GitHub vectors: signatures by @octokit/webhooks-methods `sign` (GitHub's
// own JavaScript SDK), valid and tampered cases cross-checked with its `verify`.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { sign, verify } from "@octokit/webhooks-methods";

const root = process.env.HOOKGATE_ROOT;
const here = path.dirname(fileURLToPath(import.meta.url));
const version = JSON.parse(
  readFileSync(path.join(here, "node_modules/@octokit/webhooks-methods/package.json"), "utf8"),
).version;
const SECRET = "dev-github-secret";
const OLD = "previous-github-secret";
const NOW = 1740933909;
const body = readFileSync(path.join(root, "fixtures/github/push.json"), "utf8");

const headers = (sig) => [
  ["Content-Type", "application/json"],
  ["X-GitHub-Event", "push"],
  ["X-GitHub-Delivery", "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01"],
  ...(sig ? [["X-Hub-Signature-256", sig]] : []),
];
const ok = { expect: "ok", id: "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01", event: "push" };
const base = { target: "/hooks/github", now: NOW, body };

const valid = await sign(SECRET, body);
if (!(await verify(SECRET, body, valid))) throw new Error("SDK refused its own signature");
if (await verify(SECRET, body + " ", valid)) throw new Error("SDK accepted a tampered body");
const cases = [
  { name: "valid", ...base, headers: headers(valid), ...ok, slot: 0 },
  { name: "rotated secret in slot 1", ...base, headers: headers(await sign(OLD, body)), ...ok, slot: 1 },
  { name: "tampered body", ...base, body: body.replace("main", "mail"), headers: headers(valid), expect: "unauthorized" },
  { name: "wrong secret", ...base, headers: headers(await sign("wrong", body)), expect: "unauthorized" },
  { name: "missing header", ...base, headers: headers(null), expect: "unauthorized" },
  { name: "sha1 header only", ...base, headers: [["X-Hub-Signature", "sha1=" + "0".repeat(40)]], expect: "unauthorized" },
];
const doc = {
  kind: "github",
  generator: `@octokit/webhooks-methods ${version} sign`,
  route: "",
  secrets: [SECRET, OLD],
  cases,
};
writeFileSync(path.join(root, "tests/vectors/github.json"), JSON.stringify(doc, null, 2) + "\n");
