#!/usr/bin/env python3
"""Checks deploy/compose.yaml against the Dockerfile and the repository, without a
container engine (`docker compose config` needs the compose plugin; this does not):

- the five services (rabbitmq, redis, sfsim, gateway, worker) exist;
- every `depends_on` waits for `service_healthy` of a service that has a health
  check (its own `healthcheck`, or the Dockerfile's HEALTHCHECK for an image
  built from the Dockerfile's last stage);
- every named volume a service mounts is declared under `volumes:`; every bind
  mount's host path exists in the repository (certs/ aside: scripts/gen-dev-cert.sh
  makes it); every `env_file` exists;
- an `image:` used without `build:` is built by another service; a build
  `target` is a stage of the Dockerfile;
- the Dockerfile declares VOLUME /var/lib/hookgate, a HEALTHCHECK running
  `hookgate healthcheck`, a non-root USER, and copies config/container.toml as
  /etc/hookgate/hookgate.toml.

Usage: python3 scripts/check-compose.py [deploy/compose.yaml]. Exit 1 on a problem.
"""
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Host paths that are made, not committed.
GENERATED = {ROOT / "certs"}
SERVICES = {"rabbitmq", "redis", "sfsim", "gateway", "worker"}


def dockerfile_facts(path):
    text = path.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    # The instructions of the last stage: what a build without --target gives.
    last = re.split(r"^FROM\s", text, flags=re.M | re.I)[-1]
    return {
        "stages": {s for s in stages if s},
        "healthcheck": bool(re.search(r"^HEALTHCHECK\b.*hookgate\W+healthcheck", last,
                                      re.M | re.S)),
        "volume": re.search(r"^VOLUME\s+\[?\"?/var/lib/hookgate\b", last, re.M) is not None,
        "user": next((u for u in re.findall(r"^USER\s+(\S+)", last, re.M)), None),
        "config": re.search(r"^COPY\s+config/container\.toml\s+/etc/hookgate/hookgate\.toml",
                            last, re.M) is not None,
    }


def main(argv):
    compose = Path(argv[1]) if len(argv) > 1 else ROOT / "deploy" / "compose.yaml"
    base = compose.resolve().parent
    doc = yaml.safe_load(compose.read_text(encoding="utf-8"))
    problems = []
    services = doc.get("services") or {}
    volumes = set((doc.get("volumes") or {}).keys())
    missing = SERVICES - set(services)
    if missing:
        problems.append(f"services missing: {sorted(missing)}")

    facts = dockerfile_facts(ROOT / "Dockerfile")
    if not facts["healthcheck"]:
        problems.append("Dockerfile: no HEALTHCHECK running `hookgate healthcheck` in the last stage")
    if not facts["volume"]:
        problems.append("Dockerfile: no VOLUME /var/lib/hookgate in the last stage")
    if facts["user"] in (None, "root", "0"):
        problems.append("Dockerfile: the last stage runs as root")
    if not facts["config"]:
        problems.append("Dockerfile: config/container.toml is not /etc/hookgate/hookgate.toml")

    built = {}  # image -> build target (None: the last stage)
    for name, svc in services.items():
        build = svc.get("build")
        if build is not None:
            target = build.get("target") if isinstance(build, dict) else None
            built[svc.get("image", name)] = target
            if target is not None and target not in facts["stages"]:
                problems.append(f"{name}: build target {target!r} is no Dockerfile stage")

    def healthy(name):
        svc = services.get(name) or {}
        if "healthcheck" in svc:
            return not svc["healthcheck"].get("disable", False)
        image = svc.get("image")
        return image in built and built[image] is None and facts["healthcheck"]

    for name, svc in services.items():
        if "build" not in svc and svc.get("image") not in built and "image" not in svc:
            problems.append(f"{name}: neither image nor build")
        image = svc.get("image", "")
        if "build" not in svc and image.startswith("hookgate") and image not in built:
            problems.append(f"{name}: image {image} is built by no service")
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            problems.append(f"{name}: depends_on without conditions")
            deps = {}
        for dep, how in deps.items():
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep}")
            elif (how or {}).get("condition") != "service_healthy":
                problems.append(f"{name}: depends on {dep} without condition: service_healthy")
            elif not healthy(dep):
                problems.append(f"{name}: waits for {dep} to be healthy; {dep} has no health check")
        for mount in svc.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source.startswith((".", "/")):
                host = (base / source).resolve()
                if not host.exists() and host not in GENERATED:
                    problems.append(f"{name}: bind mount source {source} does not exist")
            elif source not in volumes:
                problems.append(f"{name}: volume {source} is not declared under volumes:")
        env_files = svc.get("env_file") or []
        for f in [env_files] if isinstance(env_files, str) else env_files:
            if not (base / f).exists():
                problems.append(f"{name}: env_file {f} does not exist")
    for name in ("gateway", "worker"):
        mounts = [m.split(":")[1] for m in (services.get(name) or {}).get("volumes") or []
                  if isinstance(m, str) and ":" in m]
        if "/var/lib/hookgate" not in mounts:
            problems.append(f"{name}: no volume on /var/lib/hookgate")

    for p in problems:
        print(f"check-compose: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-compose: {compose.name}: {len(services)} services, {len(volumes)} named volumes, "
          "health-gated start order, Dockerfile ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
