# Runs examples/cloudflare-worker/worker.ts locally on workerd, Cloudflare's
# open-source Workers runtime (npm package `workerd`), against a god on this
# machine. Bundle the worker beside this file first, then serve:
#
#   npx esbuild examples/cloudflare-worker/worker.ts --bundle --format=esm \
#     --platform=neutral --outfile=examples/cloudflare-worker/worker.js
#   export TASKWIRE_URL=http://127.0.0.1:8080
#   export TASKWIRE_KEY=$(taskwire admin key worker --queues tasks --results results)
#   npx workerd serve examples/cloudflare-worker/workerd.capnp
#   curl http://127.0.0.1:8787/          # drains the waiting tasks: {"done":…,"failed":…}
#
# On Cloudflare itself, wrangler.jsonc beside this file does the same.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "taskwire-worker", worker = .worker),
    # The default outbound network ("internet") reaches public addresses only;
    # a god on this machine or on the LAN needs loopback and private ones.
    (name = "network", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:8787", http = (), service = "taskwire-worker"),
  ],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2026-11-01",
  bindings = [
    (name = "TASKWIRE_URL", fromEnvironment = "TASKWIRE_URL"),
    (name = "TASKWIRE_KEY", fromEnvironment = "TASKWIRE_KEY"),
  ],
  globalOutbound = "network",
);
