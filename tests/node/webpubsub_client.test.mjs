// @azure/web-pubsub-client against the local Web PubSub service. Run by
// tests/devhost/pubsub/test_node_client.py, which starts the service and a control server:
//   WEBPUBSUB_SERVICE_URL    the service (http://127.0.0.1:<port>)
//   WEBPUBSUB_NEGOTIATE_URL  GET -> {"url": <fresh client access URL>} (a new token per call)
//   WEBPUBSUB_CONTROL_URL    POST /publish {"text"} and POST /kick {"connectionId"}, done with
//                            the Python SDK on the pytest side.
import assert from "node:assert/strict";
import { test } from "node:test";

import { WebPubSubClient } from "@azure/web-pubsub-client";

function loopbackUrl(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  // Nothing here may leave the machine.
  assert.equal(new URL(value).hostname, "127.0.0.1", `${name} must point at 127.0.0.1`);
  return value;
}

const serviceUrl = loopbackUrl("WEBPUBSUB_SERVICE_URL");
const negotiateUrl = loopbackUrl("WEBPUBSUB_NEGOTIATE_URL");
const controlUrl = loopbackUrl("WEBPUBSUB_CONTROL_URL");

async function control(path, body) {
  const response = await fetch(`${controlUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 204, await response.text());
}

// The next `event` from the client whose arguments satisfy `predicate`.
function nextEvent(client, event, predicate = () => true) {
  return new Promise((resolve) => {
    const listener = (args) => {
      if (predicate(args)) {
        client.off(event, listener);
        resolve(args);
      }
    };
    client.on(event, listener);
  });
}

const withText = (text) => (args) => args.message.data?.text === text;

test("receives server messages and recovers after a forced disconnect", { timeout: 60_000 }, async () => {
  const health = await fetch(`${serviceUrl}/api/health`);
  assert.equal(health.status, 200);

  // Every (re)connect must ask the negotiate endpoint again (it mints a new token per call).
  let negotiations = 0;
  const client = new WebPubSubClient(
    {
      getClientAccessUrl: async () => {
        negotiations += 1;
        const response = await fetch(negotiateUrl);
        assert.equal(response.status, 200);
        return (await response.json()).url;
      },
    },
    // Short keep-alive timers: 1.0.4 waits out their pending delays after stop() (40 s by
    // default) before the process can exit. The pings also exercise the service's pong.
    { keepAliveIntervalInMs: 1000, keepAliveTimeoutInMs: 6000 },
  );

  const connected = nextEvent(client, "connected");
  await client.start();
  const first = (await connected).connectionId;
  try {
    const before = nextEvent(client, "server-message", withText("before"));
    await control("/publish", { text: "before" });
    const received = await before;
    assert.equal(received.message.dataType, "json");
    assert.deepEqual(received.message.data, { text: "before" });

    // The service closes the connection; recovery is refused (1008), so the client makes a
    // new connection with a new URL.
    const disconnected = nextEvent(client, "disconnected");
    const reconnected = nextEvent(client, "connected", (args) => args.connectionId !== first);
    await control("/kick", { connectionId: first });
    assert.equal((await disconnected).message?.message, "kicked by the test");
    const second = (await reconnected).connectionId;
    assert.notEqual(second, first);
    assert.equal(negotiations, 2);

    const after = nextEvent(client, "server-message", withText("after"));
    await control("/publish", { text: "after" });
    assert.deepEqual((await after).message.data, { text: "after" });
  } finally {
    const stopped = nextEvent(client, "stopped");
    client.stop();
    await stopped;
  }
});
