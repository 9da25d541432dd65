// Linear vectors: HMAC-SHA256 of the body (node:crypto, as Linear signs),
// each case checked with @linear/sdk's LinearWebhookClient.verify (which
// trusts only the signed body `webhookTimestamp`, 60 s both ways) before it
// is written. Writes tests/vectors/linear.json.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

// gen-vectors.sh runs a copy of this file beside the SDK's node_modules and
// names the repository in HOOKGATE_ROOT.
const ROOT = process.env.HOOKGATE_ROOT;
const SDK = path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules", "@linear/sdk");
const { LinearWebhookClient } = await import(pathToFileURL(path.join(SDK, "dist/webhooks/index.mjs")));
const version = JSON.parse(fs.readFileSync(path.join(SDK, "package.json"))).version;
const [KEY, ROTATED, WRONG] = ["lin_wh_dev_vector", "lin_wh_dev_rotated", "not-the-secret"];
const FIXTURE = JSON.parse(fs.readFileSync(path.join(ROOT, "fixtures/linear/issue.create.json")));
const NOW = 1740933909;
const sign = (key, body) => crypto.createHmac("sha256", key).update(body).digest("hex");
const bodyAt = (ms) => JSON.stringify({ ...FIXTURE, webhookTimestamp: ms });

function sdkAccepts(sig, body, now) {
  const real = Date.now;
  Date.now = () => now * 1000;
  try {
    return [KEY, ROTATED].some((k) => {
      try {
        return new LinearWebhookClient(k).verify(Buffer.from(body), sig);
      } catch {
        return false;
      }
    });
  } finally {
    Date.now = real;
  }
}

function kase(name, sig, body, now, expect, slot = 0) {
  if (sdkAccepts(sig, body, now) !== (expect === "ok")) throw new Error(`SDK disagrees: ${name}`);
  const c = {
    name, target: "/hooks/linear", body, now, expect,
    headers: [["Content-Type", "application/json; charset=utf-8"], ["Linear-Signature", sig],
      ["Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72"], ["Linear-Event", "Issue"]],
  };
  if (expect === "ok") Object.assign(c, { id: "234d1a4e-b617-4388-90fe-adc3633d6b72", event: "Issue", slot });
  return c;
}

const body = bodyAt(NOW * 1000 - 400);
const cases = [
  kase("valid", sign(KEY, body), body, NOW, "ok"),
  kase("valid 59 s later", sign(KEY, body), body, NOW + 59, "ok"),
  kase("stale 61 s", sign(KEY, body), body, NOW + 61, "unauthorized"),
  kase("future 61 s", sign(KEY, body), body, NOW - 61, "unauthorized"),
  kase("tampered body", sign(KEY, body), body.replace("HG-42", "HG-43"), NOW, "unauthorized"),
  kase("wrong secret", sign(WRONG, body), body, NOW, "unauthorized"),
  kase("rotated secret", sign(ROTATED, body), body, NOW, "ok", 1),
];
const doc = { kind: "linear", generator: `own: node:crypto HMAC; checked with @linear/sdk ${version} LinearWebhookClient.verify`, route: "", secrets: [KEY, ROTATED], cases };
fs.writeFileSync(path.join(ROOT, "tests/vectors/linear.json"), JSON.stringify(doc, null, 2) + "\n");
