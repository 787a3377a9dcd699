/**
 * `god --store nats://user:pass@host:port`, as the README shows (issue 18,
 * newcomer): the credentials in the URL reach the NATS client, and no message
 * or log line prints them. Against a real nats-server that requires a user
 * and password; skipped with a notice where nats-server is not installed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { openJetStream, splitNatsCredentials } from "../lib/jetstream/open.ts";
import { TaskwireError } from "../lib/protocol/errors.ts";
import { type NatsNode, natsSkip, startNats } from "./_support/nats.ts";
import { freePort, RUNTIMES, start } from "./_support/process.ts";
import { AUTHKEY } from "./_support/hardening.ts";

const SKIP = natsSkip();
const PASSWORD = "s3cret-pw";

test("splitNatsCredentials() takes user, password or token out of the URLs", () => {
  assert.deepEqual(splitNatsCredentials(["nats://u:p%40ss@a:4222", "nats://b:4222"]), {
    servers: ["nats://a:4222", "nats://b:4222"],
    user: "u",
    pass: "p@ss",
  });
  assert.deepEqual(splitNatsCredentials(["tls://tok@a:4222"]), {
    servers: ["tls://a:4222"],
    token: "tok",
  });
  assert.deepEqual(splitNatsCredentials(["nats://a:4222"]), { servers: ["nats://a:4222"] });
});

/** A JetStream server that requires the user `taskwire` with {@link PASSWORD}. */
function natsWithPassword(): Promise<{ node: NatsNode; close(): Promise<void> }> {
  return startNats(["--user", "taskwire", "--pass", PASSWORD]);
}

test(
  "openJetStream() connects with the URL's credentials; a wrong password fails without printing it",
  {
    skip: SKIP,
  },
  async () => {
    const nats = await natsWithPassword();
    try {
      const backend = await openJetStream(
        `nats://taskwire:${PASSWORD}@127.0.0.1:${nats.node.port}`,
        {
          maxAttempts: 3,
        },
      );
      await backend.close();
      await assert.rejects(
        openJetStream(`nats://taskwire:wrong-pw@127.0.0.1:${nats.node.port}`, { maxAttempts: 1 }),
        (e: Error) =>
          e instanceof TaskwireError && e.code === "auth_failed" &&
          !e.message.includes("wrong-pw") &&
          e.message.includes(`127.0.0.1:${nats.node.port}`),
      );
    } finally {
      await nats.close();
    }
  },
);

for (const runtime of RUNTIMES) {
  test(
    `a ${runtime} god started with --store nats://user:pass@host serves, and never prints the password`,
    {
      skip: SKIP,
    },
    async () => {
      const nats = await natsWithPassword();
      const port = await freePort();
      const god = start(runtime, "roles/god.ts", [
        "--store",
        `nats://taskwire:${PASSWORD}@127.0.0.1:${nats.node.port}`,
        "--listen",
        `127.0.0.1:${port}`,
      ], { env: { TASKWIRE_AUTHKEY: AUTHKEY } });
      try {
        await god.waitFor(/god listening on/, 60_000);
        assert.match(god.output, /store: NATS JetStream at nats:\/\/127\.0\.0\.1:\d+/);
        assert.ok(!god.output.includes(PASSWORD), god.output);
      } finally {
        await god.stop();
        await nats.close();
      }
    },
  );
}
