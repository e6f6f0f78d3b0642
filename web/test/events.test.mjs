// Live events are delivered at least once: an activity that publishes may run again (Durable
// runs activities at least once), and a reconnect or the user + ops groups repeat events too.
// Every repeat carries the id of the first delivery, so the page shows an event id once
// (web/src/events.js, LiveEvents.receive).
import { test } from "node:test";
import assert from "node:assert/strict";

import { LiveEvents } from "../src/events.js";

function listening() {
  const live = new LiveEvents({ request: async () => assert.fail("no network here") });
  const shown = [];
  live.addEventListener("event", (event) => shown.push(event.detail));
  return { live, shown };
}

const envelope = (id, type = "agent.status", data = { status: "started" }) => ({
  type,
  id,
  time: "2026-12-01T10:00:00Z",
  conversationId: "c1",
  instanceId: "dlg-1",
  agent: "outage-check",
  data,
});

test("an event id seen before is not shown again, whatever frame it comes in", () => {
  const { live, shown } = listening();
  const first = envelope("e1");

  live.receive({ dataType: "json", data: first });
  live.receive({ dataType: "json", data: { ...first } }); // the activity's rerun
  live.receive({ dataType: "text", data: JSON.stringify(first) }); // another connection
  live.receive({ dataType: "json", data: envelope("e2", "message", { text: "Done.", agents: [] }) });
  live.receive({ dataType: "json", data: envelope("e2", "message", { text: "Done.", agents: [] }) });

  assert.deepEqual(
    shown.map((event) => event.id),
    ["e1", "e2"],
  );
  assert.deepEqual(shown[0], first);
});

test("events without an id or type, or not JSON, are dropped rather than shown", () => {
  const { live, shown } = listening();

  live.receive({ dataType: "json", data: { type: "message", data: {} } });
  live.receive({ dataType: "json", data: { id: "x1", data: {} } });
  live.receive({ dataType: "text", data: "{not json" });
  live.receive({ dataType: "json", data: null });

  assert.deepEqual(shown, []);
});

test("the ids remembered are bounded; the oldest is forgotten first", () => {
  const { live, shown } = listening();

  for (let n = 0; n <= 5000; n += 1) live.receive({ dataType: "json", data: envelope(`id-${n}`) });
  live.receive({ dataType: "json", data: envelope("id-5000") }); // recent: still a repeat
  live.receive({ dataType: "json", data: envelope("id-0") }); // forgotten: shown again

  assert.equal(shown.length, 5002);
  assert.equal(shown.at(-1).id, "id-0");
});
