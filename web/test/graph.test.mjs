// The live network view's logic (web/src/graph.js): live events -> edge states, stage numbers,
// the person node and the text alternative; where the nodes go. No browser: GraphModel and
// layout() are plain functions of the events and the width (tests/browser/test_network_graph.py
// checks the drawing).
import { test } from "node:test";
import assert from "node:assert/strict";

import { GEOMETRY, GraphModel, LABEL_CHARS, edgeState, labelLines, layout, personPlace } from "../src/graph.js";

const AUTH = "contoso-authentication-agent";
const OUTAGE = "contoso-outage-check-agent";
const MODEM = "contoso-modem-check-agent";
const PLAN = "contoso-internet-plan-agent";
const DISPATCH = "contoso-technical-dispatch-agent";
const PERF = "contoso-network-performance-agent";
const SIX = [AUTH, OUTAGE, MODEM, PLAN, DISPATCH, PERF];

let sequence = 0;
/** An event envelope of turn `instanceId` (docs/events.schema.json). */
function event(type, data, { agent, instanceId = "dlg-1" } = {}) {
  sequence += 1;
  return { type, id: `e${sequence}`, time: "2026-12-01T10:00:00Z", conversationId: "c1", callId: "call-1", instanceId, agent, data };
}
const created = (stages, instanceId = "dlg-1") => event("task.created", { taskId: instanceId, request: "Is there an outage?", stages }, { instanceId });
const status = (agent, value, instanceId = "dlg-1") => event("agent.status", { status: value }, { agent, instanceId });
const updated = (state, instanceId = "dlg-1") => event("task.updated", { taskId: instanceId, state }, { instanceId });

/** A model with the six Contoso agents, plus one waiting for admission (never drawn). */
function model() {
  const graph = new GraphModel();
  graph.setAgents([
    ...SIX.map((name) => ({ name, health: name === PERF ? "unhealthy" : "healthy", admission: "admitted" })),
    { name: "contoso-new-agent", health: "healthy", admission: "pending" },
  ]);
  return graph;
}

/** Apply events, recording each edge's states in order (as the browser test's observer does). */
function play(graph, events) {
  const seen = new Map();
  for (const item of events) {
    graph.apply(item);
    for (const name of graph.names()) {
      const states = seen.get(name) || [];
      if (states.at(-1) !== graph.edge(name)) states.push(graph.edge(name));
      seen.set(name, states);
    }
  }
  return seen;
}

test("agent.status maps onto the edge states; unknown statuses change nothing", () => {
  assert.equal(edgeState("started"), "working");
  assert.equal(edgeState("working"), "working");
  assert.equal(edgeState("retrying"), "retrying");
  assert.equal(edgeState("input-required"), "input-required");
  assert.equal(edgeState("completed"), "done");
  assert.equal(edgeState("failed"), "failed");
  assert.equal(edgeState("timed-out"), "timed-out");
  assert.equal(edgeState("paused"), null);

  const graph = model();
  graph.apply(created([[AUTH]]));
  assert.equal(graph.apply(status(AUTH, "paused")), false);
  assert.equal(graph.edge(AUTH), "planned");
});

test("only admitted agents are drawn, in the list view's order", () => {
  assert.deepEqual(model().names(), [...SIX].sort());
});

test("a two-stage turn: planned with stage numbers, then lit stage by stage, then over", () => {
  const graph = model();
  assert.equal(graph.summary(), "No request yet.");

  const seen = play(graph, [
    created([[AUTH], [OUTAGE, MODEM, PLAN]]),
    status(AUTH, "started"),
    status(AUTH, "completed"),
    status(OUTAGE, "started"),
    status(MODEM, "started"),
    status(PLAN, "started"),
    status(MODEM, "retrying"),
    status(OUTAGE, "completed"),
    status(MODEM, "completed"),
    status(PLAN, "timed-out"),
    updated("completed"),
  ]);

  assert.deepEqual(seen.get(AUTH), ["planned", "working", "done"]);
  assert.deepEqual(seen.get(OUTAGE), ["planned", "working", "done"]);
  assert.deepEqual(seen.get(MODEM), ["planned", "working", "retrying", "done"]);
  assert.deepEqual(seen.get(PLAN), ["planned", "working", "timed-out"]);
  assert.deepEqual(seen.get(DISPATCH), ["idle"]); // not in this turn
  assert.deepEqual(Object.fromEntries(graph.stageOf), { [AUTH]: 1, [OUTAGE]: 2, [MODEM]: 2, [PLAN]: 2 });
  assert.equal(graph.stageCount, 2);
  assert.equal(graph.running(), false);
  assert.equal(graph.summary(), "Request answered: 3 done, 1 timed out.");
});

test("the status line follows the stages: the stage the latest called agent belongs to", () => {
  const graph = model();
  graph.apply(created([[AUTH], [OUTAGE, MODEM, PLAN]]));
  assert.equal(graph.summary(), "Stage 1 of 2: authentication.");
  graph.apply(status(AUTH, "started"));
  graph.apply(status(AUTH, "completed"));
  assert.equal(graph.summary(), "Stage 1 of 2: authentication.");
  graph.apply(status(OUTAGE, "started"));
  assert.equal(graph.summary(), "Stage 2 of 2: outage check, modem check and internet plan.");
});

test("the nodes' accessible names list name, health, state and stage", () => {
  const graph = model();
  graph.apply(created([[AUTH], [OUTAGE, PERF]]));
  graph.apply(status(AUTH, "started"));
  assert.equal(graph.nodeLabel(AUTH), "authentication: healthy, working, stage 1");
  assert.equal(graph.nodeLabel(OUTAGE), "outage check: healthy, planned, stage 2");
  assert.equal(graph.nodeLabel(PERF), "network performance: unhealthy, planned, stage 2");
  assert.equal(graph.nodeLabel(DISPATCH), "technical dispatch: healthy");
  graph.apply(status(AUTH, "failed"));
  graph.apply(updated("failed"));
  // What the turn never called is said so, not left "planned".
  assert.equal(graph.nodeLabel(OUTAGE), "outage check: healthy, not called, stage 2");
  assert.equal(graph.summary(), "Request failed: 1 failed, 2 not called.");
});

test("six agents answering in parallel: every edge keeps its own state", () => {
  const graph = model();
  const order = [PERF, DISPATCH, PLAN, MODEM, OUTAGE, AUTH];
  const seen = play(graph, [
    created([SIX]),
    ...SIX.map((name) => status(name, "started")),
    // Answers interleaved, in another order than the calls.
    ...order.flatMap((name, index) => (index % 2 ? [status(name, "retrying"), status(name, "completed")] : [status(name, "completed")])),
  ]);
  for (const [index, name] of order.entries()) {
    assert.deepEqual(seen.get(name), index % 2 ? ["planned", "working", "retrying", "done"] : ["planned", "working", "done"], name);
    assert.equal(graph.stageOf.get(name), 1);
  }
  assert.equal(graph.summary(), "Stage 1 of 1: authentication, outage check, modem check, internet plan, technical dispatch and network performance.");
});

test("a new turn resets the edges; a second call running beside the first adds to it", () => {
  const graph = model();
  play(graph, [created([[AUTH], [OUTAGE]]), status(AUTH, "started"), status(AUTH, "completed")]);
  // The voice model's second tool call of the same response: the first turn is still running.
  graph.apply(created([[PLAN]], "dlg-2"));
  assert.equal(graph.edge(AUTH), "done");
  assert.equal(graph.edge(PLAN), "planned");
  play(graph, [status(OUTAGE, "completed"), updated("completed"), status(PLAN, "completed", "dlg-2"), updated("completed", "dlg-2")]);
  assert.equal(graph.running(), false);

  graph.apply(created([[MODEM]], "dlg-3"));
  assert.equal(graph.edge(AUTH), "idle");
  assert.equal(graph.edge(PLAN), "idle");
  assert.equal(graph.edge(MODEM), "planned");
  assert.deepEqual(Object.fromEntries(graph.stageOf), { [MODEM]: 1 });
  assert.equal(graph.person, null);
});

test("the person node: tied to the agent the event names, outcome shown, agent goes on", () => {
  const graph = model();
  const seen = play(graph, [
    created([[AUTH]]),
    status(AUTH, "started"),
    status(AUTH, "completed"),
    // The dispatch runs after the plan's stages: it is shown as one more stage.
    status(DISPATCH, "started"),
    status(DISPATCH, "input-required"),
  ]);
  assert.equal(graph.stageOf.get(DISPATCH), 2);
  assert.equal(graph.summary(), "Stage 2 of 2: technical dispatch.");
  assert.equal(graph.nodeLabel(DISPATCH), "technical dispatch: healthy, waiting for a person, stage 2");

  // The turn answers first; the agent's question goes to a supervisor after that.
  graph.apply(updated("completed"));
  assert.equal(graph.summary(), "Request answered: 1 done, 1 waiting for a person.");
  graph.apply(event("approval.requested", { reason: "Visit on 2 Dec?", expiresAt: "2026-12-01T10:02:00Z" }, { agent: DISPATCH }));
  assert.deepEqual(graph.person, { agent: DISPATCH, state: "asked", reason: "Visit on 2 Dec?" });
  assert.equal(graph.personLabel(), "A supervisor is asked for technical dispatch. Visit on 2 Dec?");
  assert.equal(graph.summary(), "Request answered: 1 done, 1 waiting for a person. A supervisor is asked for technical dispatch.");

  // The decision, then the agent's task goes on with it: its follow-up.
  play(graph, [event("approval.resolved", { outcome: "approved", by: "sam" }), status(DISPATCH, "started")]);
  assert.equal(graph.summary(), "Request answered: 1 done, 1 working. Supervisor: approved.");
  graph.apply(status(DISPATCH, "completed"));
  assert.deepEqual(seen.get(DISPATCH), ["idle", "working", "input-required"]);
  assert.equal(graph.person.state, "approved");
  assert.equal(graph.person.agent, DISPATCH);
  assert.equal(graph.edge(DISPATCH), "done");
  assert.equal(graph.summary(), "Request answered: 2 done. Supervisor: approved.");
});

test("events of one batch arrive in any order across agents: the picture ends the same", () => {
  // Each agent's events are published in order, different agents' (and the task's) side by side.
  const graph = model();
  const seen = play(graph, [
    status(AUTH, "started"),
    created([[AUTH], [OUTAGE, MODEM]]),
    status(AUTH, "completed"),
    status(OUTAGE, "started"),
    status(MODEM, "started"),
    status(OUTAGE, "completed"),
    updated("completed"),
    status(MODEM, "failed"),
  ]);
  assert.deepEqual(seen.get(AUTH), ["working", "done"]); // never shown planned: it started first
  assert.deepEqual(seen.get(MODEM), ["idle", "planned", "working", "failed"]);
  assert.deepEqual(Object.fromEntries(graph.stageOf), { [AUTH]: 1, [OUTAGE]: 2, [MODEM]: 2 });
  assert.equal(graph.summary(), "Request answered: 2 done, 1 failed.");
});

test("an approval event naming no agent goes to the agent waiting for input, else the host", () => {
  const waiting = model();
  play(waiting, [created([[DISPATCH]]), status(DISPATCH, "started"), status(DISPATCH, "input-required")]);
  waiting.apply(event("approval.requested", { reason: "Visit?", expiresAt: "2026-12-01T10:02:00Z" }));
  assert.equal(waiting.person.agent, DISPATCH);
  waiting.apply(event("approval.resolved", { outcome: "replied" }));
  assert.equal(waiting.personText(), "Supervisor: replied.");

  // Today's host says completed for an agent that asks: nobody waits, the person joins the host.
  const older = model();
  play(older, [created([[DISPATCH]]), status(DISPATCH, "started"), status(DISPATCH, "completed")]);
  older.apply(event("approval.requested", { reason: "Visit?", expiresAt: "2026-12-01T10:02:00Z" }));
  assert.equal(older.person.agent, null);
  assert.equal(older.summary(), "Stage 1 of 1: technical dispatch. A supervisor is asked.");
  older.apply(event("approval.resolved", { outcome: "timed-out" }));
  assert.equal(older.personText(), "Supervisor: no answer in time.");
  older.apply(event("approval.resolved", { outcome: "something-new" }));
  assert.equal(older.person.state, "resolved");
});

test("events of no turn shape nothing; a status without task.created still lights its edge", () => {
  const graph = model();
  assert.equal(graph.apply(event("message", { text: "Done.", agents: [] })), false);
  assert.equal(graph.apply(event("registry.updated", { agents: [] })), false);
  assert.equal(graph.apply(updated("completed", "dlg-unknown")), false);
  graph.apply(status(OUTAGE, "started", "dlg-9"));
  assert.equal(graph.edge(OUTAGE), "working");
  assert.equal(graph.stageOf.size, 0); // no plan seen: no stage numbers to show
  assert.equal(graph.summary(), "Request running.");
});

test("labels fit in two lines of the width a node has, cut with an ellipsis", () => {
  assert.equal(LABEL_CHARS, 14);
  assert.deepEqual(labelLines("authentication"), ["authentication"]);
  assert.deepEqual(labelLines("network performance"), ["network", "performance"]);
  assert.deepEqual(labelLines("outage check"), ["outage check"]);
  assert.deepEqual(labelLines("a very long agent name indeed"), ["a very long", "agent name in…"]);
  assert.deepEqual(labelLines("supercalifragilistic"), ["supercalifrag…"]);
  for (const lines of [labelLines("x ".repeat(40)), labelLines("word".repeat(10))]) {
    assert.ok(lines.length <= 2 && lines.every((line) => line.length <= LABEL_CHARS), lines);
  }
});

test("layout: host in the middle, agents around it, all inside the width, none overlapping", () => {
  const { nodeR, labelHalf, strip, personR } = GEOMETRY;
  for (const width of [200, 260, 297, 500, 1200]) {
    for (let count = 0; count <= 8; count += 1) {
      const names = SIX.concat(["a-agent", "b-agent"]).slice(0, count);
      const place = layout(names, width);
      assert.equal(place.width, width);
      assert.equal(place.host.x, width / 2);
      assert.equal(place.nodes.length, count);
      for (const node of place.nodes) {
        // The label (centred on the node) stays inside; the node stays clear of the person's bands.
        assert.ok(node.x - labelHalf >= 0 && node.x + labelHalf <= width, `${width}/${count}: ${node.x}`);
        assert.ok(node.y - nodeR > strip && node.y + nodeR < place.height - strip, `${width}/${count}: ${node.y}`);
        const fromHost = Math.hypot(node.x - place.host.x, node.y - place.host.y);
        // Room between the two circles for a bit of edge on each side of the stage badge.
        assert.ok(fromHost >= GEOMETRY.hostR + nodeR + 16, `${width}/${count}: too close to the host`);
      }
      for (const [index, a] of place.nodes.entries()) {
        for (const b of place.nodes.slice(index + 1)) {
          assert.ok(Math.hypot(a.x - b.x, a.y - b.y) > 2 * nodeR + 8, `${width}/${count}: ${a.name} on ${b.name}`);
        }
      }
      // The person node, whoever it is tied to: in a band, inside the width, on no node, with
      // room for its words ("supervisor", 10 characters) on the side it writes them.
      for (const target of [null, ...place.nodes]) {
        const person = personPlace(place, target);
        const where = `${width}/${count}: person of ${target ? target.name : "host"}`;
        assert.ok(person.x - personR >= 0 && person.x + personR <= width, where);
        assert.ok(person.y + personR <= strip || person.y - personR >= place.height - strip, where);
        const words = 10 * GEOMETRY.charWidth + personR + 5;
        assert.ok(person.anchor === "end" ? person.x - words >= 0 : person.x + words <= width, where);
        if (target) assert.equal(person.x, target.x, where); // straight above or below it
        for (const node of place.nodes) assert.ok(Math.hypot(node.x - person.x, node.y - person.y) > nodeR + personR, where);
      }
    }
  }
  // The first agent is at the top, its label above it; one at the bottom has it below.
  const six = layout(SIX, 300);
  assert.equal(six.nodes[0].x, 150);
  assert.ok(six.nodes[0].y < six.host.y && six.nodes[0].labelAbove);
  assert.ok(six.nodes[3].y > six.host.y && !six.nodes[3].labelAbove);
  // The person for an agent at the top is in the band above, for one at the bottom below.
  assert.equal(personPlace(six, six.nodes[0]).y, GEOMETRY.strip / 2);
  assert.equal(personPlace(six, six.nodes[3]).y, six.height - GEOMETRY.strip / 2);
  // Too narrow to be measured yet (a hidden panel): drawn at a usable width, scaled by CSS.
  assert.equal(layout(SIX, 0).width, GEOMETRY.fallbackWidth);
  assert.equal(layout(SIX, 120).width, GEOMETRY.minWidth);
});
