// The voice bridge (web/src/voice.js) against a fake Voice Live socket, with the real
// Delegations (web/src/delegations.js) between it and a fake HTTP API. Timers are node's mock
// timers, so back-off and token renewal are checked without waiting.
import { test } from "node:test";
import assert from "node:assert/strict";

import { ApiError } from "../src/api.js";
import { Delegations } from "../src/delegations.js";
import {
  TOOL_NAME,
  VoiceBridge,
  argumentFields,
  followUpMessage,
  VoiceSocketClosed,
  reconnectDelay,
  serviceProblem,
  sessionFor,
  typedMessage,
  voiceProblem,
  voiceUrl,
  withTypedFields,
} from "../src/voice.js";

const OPEN = 1;
const CLOSED = 3;
// The tool as GET /api/voice/session builds it from the Contoso playbook (its parameters only).
const PARAMETERS = ["request", "customer", "symptoms", "ledState", "preferredDate", "agents"];
const SESSION_TOOL = {
  name: TOOL_NAME,
  parameters: { type: "object", properties: Object.fromEntries(PARAMETERS.map((name) => [name, {}])) },
};

/** One fake Voice Live WebSocket: records what the bridge sends, lets the test speak for the service. */
class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
  }

  accept() {
    this.readyState = OPEN;
    this.onopen?.();
  }

  emit(event) {
    this.onmessage?.({ data: JSON.stringify(event) });
  }

  drop(code, reason = "") {
    this.readyState = CLOSED;
    this.onclose?.({ code, reason });
  }

  send(text) {
    assert.equal(this.readyState, OPEN, "sent on a socket that is not open");
    this.sent.push(JSON.parse(text));
  }

  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = CLOSED;
  }

  types() {
    return this.sent.map((event) => event.type).filter((type) => type !== "input_audio_buffer.append");
  }

  /** [call_id, parsed output] of each function_call_output, in the order sent. */
  outputs() {
    return this.sent
      .filter((event) => event.type === "conversation.item.create" && event.item.type === "function_call_output")
      .map((event) => [event.item.call_id, JSON.parse(event.item.output)]);
  }
}

/** A promise the test settles later (an HTTP answer that is still on its way). */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** The HTTP API: voice token and session answered at once; each POST /api/messages waits for the test. */
class FakeApi {
  constructor({ expiresInMs = null } = {}) {
    this.expiresInMs = expiresInMs;
    this.tokens = 0;
    this.posts = new Map(); // callId -> deferred
    this.bodies = new Map(); // callId -> the body posted
    this.postCount = 0;
    this.tokenError = null;
    this.tokenGate = null; // a deferred: token requests wait for it
  }

  async request(path, options = {}) {
    if (path === "/api/voice/token") {
      if (this.tokenGate) await this.tokenGate.promise;
      if (this.tokenError) throw this.tokenError;
      this.tokens += 1;
      return {
        status: 200,
        data: {
          endpoint: "https://voice.test",
          apiVersion: "2026-07-15",
          model: "gpt-realtime",
          authType: "bearer",
          token: `token-${this.tokens}`,
          expiresAt: this.expiresInMs === null ? null : new Date(Date.now() + this.expiresInMs).toISOString(),
        },
      };
    }
    if (path === "/api/voice/session") {
      return { status: 200, data: { type: "session.update", session: { tools: [SESSION_TOOL] } } };
    }
    if (path === "/api/messages" && options.method === "POST") {
      const post = deferred();
      this.posts.set(options.body.callId, post);
      this.bodies.set(options.body.callId, options.body);
      this.postCount += 1;
      return post.promise;
    }
    throw new Error(`unexpected request ${path}`);
  }

  /** Answer the POST of `callId` with 200 and an answer. */
  answer(callId, text) {
    this.posts.get(callId).resolve({
      status: 200,
      data: { status: "completed", answer: text, agents: ["contoso-outage-check-agent"], partial: false, instanceId: `i-${callId}` },
    });
  }

  /** Answer the POST of `callId` with 202: the answer comes later as a `message` event. */
  accept(callId) {
    this.posts.get(callId).resolve({
      status: 202,
      data: { instanceId: `i-${callId}`, statusUrl: `/api/messages/i-${callId}`, interim: "Checking…" },
    });
  }
}

class FakeAudio {
  constructor() {
    this.started = 0;
    this.flushed = 0;
    this.played = [];
    this.stopped = 0;
    this.startError = null;
  }

  async start() {
    if (this.startError) throw this.startError;
    this.started += 1;
  }

  play(delta) {
    this.played.push(delta);
  }

  flush() {
    this.flushed += 1;
  }

  async stop() {
    this.stopped += 1;
  }
}

/** Let promise callbacks (HTTP answers, the bridge's awaits) run. */
async function settle() {
  for (let i = 0; i < 10; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** A bridge on fake sockets (`sockets`, in the order opened) recording what it reports in `seen`; not started. */
function fakeBridge(api, audio = new FakeAudio(), options = {}) {
  const events = Object.assign(new EventTarget(), { state: "connected" }); // LiveEvents, connected
  const delegations = new Delegations(api, events);
  const sockets = [];
  const seen = { late: [], answers: [], failed: [], problems: [], messages: [], states: [], replies: [], calls: [] };
  const bridge = new VoiceBridge({
    api,
    delegations,
    audio,
    conversationId: () => "conv-1",
    ...options,
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    hooks: {
      onCall: ({ callId, input }) => seen.calls.push([callId, input]),
      onReplyText: (key, text, done) => seen.replies.push([text, done]),
      onAnswer: (callId) => seen.answers.push(callId),
      onFailed: (callId, error) => seen.failed.push([callId, error.message]),
      onLate: (callId, result) => seen.late.push([callId, result && result.answer]),
      onProblem: (problem) => {
        seen.problems.push(problem.category);
        seen.messages.push(problem.message);
      },
    },
  });
  bridge.addEventListener("state", (event) => seen.states.push(event.detail.mode === "text" ? `${event.detail.state} (text)` : event.detail.state));
  return { api, delegations, audio, sockets, seen, bridge };
}

/** A bridge connected to its first fake socket; timers mocked. */
async function connected(t, apiOptions = {}, bridgeOptions = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: Date.parse("2026-11-25T12:00:00Z") });
  const made = fakeBridge(new FakeApi(apiOptions), new FakeAudio(), bridgeOptions);
  await made.bridge.start();
  made.sockets[0].accept();
  await settle();
  assert.equal(made.bridge.state, "connected");
  return made;
}

/** The service asks for `calls` ([callId, args]) in one response, then finishes that response. */
function callInOneResponse(socket, responseId, calls) {
  socket.emit({ type: "response.created", response: { id: responseId } });
  for (const [callId, args] of calls) {
    socket.emit({
      type: "response.function_call_arguments.done",
      response_id: responseId,
      call_id: callId,
      name: TOOL_NAME,
      arguments: JSON.stringify(args),
    });
  }
  socket.emit({ type: "response.done", response: { id: responseId } });
}

test("the socket URL carries the token as Authorization=Bearer, or the key as api-key", () => {
  const common = { endpoint: "https://voice.test/", apiVersion: "2026-07-15", model: "gpt-realtime" };
  const bearer = new URL(voiceUrl({ ...common, authType: "bearer", token: "abc" }));
  assert.equal(bearer.protocol, "wss:");
  assert.equal(bearer.pathname, "/voice-live/realtime");
  assert.equal(bearer.searchParams.get("Authorization"), "Bearer abc");
  assert.equal(bearer.searchParams.get("api-key"), null);
  const key = new URL(voiceUrl({ ...common, authType: "api-key", token: "k" }));
  assert.equal(key.searchParams.get("api-key"), "k");
  assert.equal(key.searchParams.get("Authorization"), null);
});

test("connecting sends the session from GET /api/voice/session first, then starts the microphone", async (t) => {
  const { sockets, audio, api } = await connected(t);
  assert.equal(api.tokens, 1);
  assert.equal(new URL(sockets[0].url).searchParams.get("Authorization"), "Bearer token-1");
  assert.deepEqual(sockets[0].types(), ["session.update"]);
  assert.equal(audio.started, 1);
});

test("two parallel calls answered out of order each get their own output, then one response.create", async (t) => {
  const { api, sockets, seen } = await connected(t);
  const socket = sockets[0];
  callInOneResponse(socket, "resp-1", [
    ["call-a", { request: "Is there an outage?" }],
    ["call-b", { request: "Is my bill paid?" }],
  ]);
  await settle();
  assert.deepEqual([...api.posts.keys()], ["call-a", "call-b"]);
  assert.deepEqual(socket.outputs(), []);

  api.answer("call-b", "Your bill is paid.");
  await settle();
  // The first answer goes out as it comes; no response.create while a call is pending.
  assert.deepEqual(socket.outputs(), [["call-b", { status: "completed", answer: "Your bill is paid.", agents: ["contoso-outage-check-agent"], partial: false }]]);
  assert.ok(!socket.types().includes("response.create"));

  api.answer("call-a", "There is an outage in your area.");
  await settle();
  assert.deepEqual(
    socket.outputs().map(([callId, output]) => [callId, output.answer]),
    [
      ["call-b", "Your bill is paid."],
      ["call-a", "There is an outage in your area."],
    ],
  );
  assert.deepEqual(socket.types().slice(-3), ["conversation.item.create", "conversation.item.create", "response.create"]);
  assert.deepEqual(seen.answers, ["call-b", "call-a"]);
});

test("the POST body carries the call's own call_id and the tool's known arguments only", async (t) => {
  const { api, sockets } = await connected(t);
  const agents = [{ name: "tide-tables", message: "High tide?" }];
  const args = {
    request: "Modem lights",
    symptoms: ["modem_lights"],
    ledState: "red",
    agents,
    extra: "dropped",
  };
  callInOneResponse(sockets[0], "resp-1", [["call-x", args]]);
  await settle();
  assert.deepEqual(api.bodies.get("call-x"), {
    conversationId: "conv-1",
    callId: "call-x",
    request: "Modem lights",
    symptoms: ["modem_lights"],
    ledState: "red",
    agents,
  });
});

test("a 202 then the matching message event answers that call", async (t) => {
  const { api, delegations, sockets } = await connected(t);
  const socket = sockets[0];
  callInOneResponse(socket, "resp-1", [["call-slow", { request: "Is there an outage?" }]]);
  await settle();
  api.accept("call-slow");
  await settle();
  assert.deepEqual(socket.outputs(), []);

  // An event for another call changes nothing.
  delegations.onEvent({ type: "message", callId: "someone-else", instanceId: "i-x", data: { text: "Not yours." } });
  await settle();
  assert.deepEqual(socket.outputs(), []);

  delegations.onEvent({ type: "message", callId: "call-slow", instanceId: "i-call-slow", data: { text: "An outage; fixed by 6 pm.", agents: [], partial: false } });
  await settle();
  assert.deepEqual(socket.outputs().map(([callId, output]) => [callId, output.answer]), [["call-slow", "An outage; fixed by 6 pm."]]);
  assert.equal(socket.types().filter((type) => type === "response.create").length, 1);
});

test("a duplicate message event and a repeated call event give one output and one response.create", async (t) => {
  const { api, delegations, sockets } = await connected(t);
  const socket = sockets[0];
  const call = ["call-dup", { request: "Is there an outage?" }];
  callInOneResponse(socket, "resp-1", [call]);
  socket.emit({ type: "response.function_call_arguments.done", response_id: "resp-1", call_id: "call-dup", name: TOOL_NAME, arguments: "{}" });
  await settle();
  assert.equal(api.postCount, 1);
  api.accept("call-dup");
  await settle();

  const event = { type: "message", callId: "call-dup", instanceId: "i-call-dup", data: { text: "First answer." } };
  delegations.onEvent(event);
  delegations.onEvent(event);
  delegations.onEvent({ ...event, data: { text: "A second answer for the same call." } });
  await settle();

  assert.deepEqual(socket.outputs().map(([callId, output]) => [callId, output.answer]), [["call-dup", "First answer."]]);
  assert.equal(socket.types().filter((type) => type === "response.create").length, 1);
});

test("an answer that arrives after a reconnect is not sent to the new socket", async (t) => {
  const { api, sockets, seen, bridge } = await connected(t);
  callInOneResponse(sockets[0], "resp-1", [["call-old", { request: "Is there an outage?" }]]);
  await settle();

  sockets[0].drop(1006);
  assert.equal(bridge.state, "reconnecting");
  assert.deepEqual(seen.problems, ["network"]);
  t.mock.timers.tick(1000); // the first back-off is 0.5–1 s
  await settle();
  assert.equal(sockets.length, 2);
  assert.equal(api.tokens, 2, "a fresh token for the new socket");
  assert.equal(new URL(sockets[1].url).searchParams.get("Authorization"), "Bearer token-2");
  sockets[1].accept();
  await settle();
  assert.equal(bridge.state, "connected");

  api.answer("call-old", "There is an outage.");
  await settle();
  assert.deepEqual(seen.late, [["call-old", "There is an outage."]]);
  assert.deepEqual(sockets[1].outputs(), []);
  assert.ok(!sockets[1].types().includes("response.create"));
  assert.deepEqual(sockets[0].outputs(), []);

  // The new socket's own calls are answered as usual.
  callInOneResponse(sockets[1], "resp-2", [["call-new", { request: "And now?" }]]);
  await settle();
  api.answer("call-new", "All fine now.");
  await settle();
  assert.deepEqual(sockets[1].outputs().map(([callId]) => callId), ["call-new"]);
});

test("a rejected call gets an error output the model can speak, then response.create", async (t) => {
  const { api, sockets, seen } = await connected(t);
  const socket = sockets[0];
  callInOneResponse(socket, "resp-1", [["call-refused", { request: "Book a visit" }]]);
  await settle();
  api.posts.get("call-refused").reject(new ApiError(429, "rate_limited", "Too many requests.", true, 5));
  await settle();
  assert.deepEqual(socket.outputs(), [["call-refused", { status: "error", message: "Too many requests.", retryable: true }]]);
  assert.equal(socket.types().at(-1), "response.create");
  assert.deepEqual(seen.failed, [["call-refused", "Too many requests."]]);
});

test("an unknown tool or arguments that are not JSON are answered with an error, without a POST", async (t) => {
  const { api, sockets } = await connected(t);
  const socket = sockets[0];
  socket.emit({ type: "response.created", response: { id: "resp-1" } });
  socket.emit({ type: "response.function_call_arguments.done", response_id: "resp-1", call_id: "c1", name: "other_tool", arguments: "{}" });
  socket.emit({ type: "response.function_call_arguments.done", response_id: "resp-1", call_id: "c2", name: TOOL_NAME, arguments: "{not json" });
  socket.emit({ type: "response.done", response: { id: "resp-1" } });
  await settle();
  assert.equal(api.postCount, 0);
  assert.deepEqual(socket.outputs().map(([callId, output]) => [callId, output.status]), [
    ["c1", "error"],
    ["c2", "error"],
  ]);
  assert.equal(socket.types().filter((type) => type === "response.create").length, 1);
});

test("outputs wait for their response to be done; response.create waits while another response is active", async (t) => {
  const { api, sockets } = await connected(t);
  const socket = sockets[0];
  socket.emit({ type: "response.created", response: { id: "resp-1" } });
  socket.emit({ type: "response.function_call_arguments.done", response_id: "resp-1", call_id: "c1", name: TOOL_NAME, arguments: "{}" });
  await settle();
  api.answer("c1", "Done early.");
  await settle();
  assert.deepEqual(socket.outputs(), [], "not before response.done");
  socket.emit({ type: "response.done", response: { id: "resp-1" } });
  socket.emit({ type: "response.created", response: { id: "resp-2" } }); // the model speaks again meanwhile
  await settle();
  // resp-1 was done before resp-2 began, so the output went out at its response.done.
  assert.deepEqual(socket.outputs().map(([callId]) => callId), ["c1"]);
  assert.equal(socket.types().filter((type) => type === "response.create").length, 1);

  socket.emit({ type: "response.function_call_arguments.done", response_id: "resp-2", call_id: "c2", name: TOOL_NAME, arguments: "{}" });
  socket.emit({ type: "response.done", response: { id: "resp-2" } });
  socket.emit({ type: "response.created", response: { id: "resp-3" } });
  await settle();
  api.answer("c2", "Second.");
  await settle();
  assert.equal(socket.types().filter((type) => type === "response.create").length, 1, "deferred while resp-3 is active");
  socket.emit({ type: "response.done", response: { id: "resp-3" } });
  await settle();
  assert.equal(socket.types().filter((type) => type === "response.create").length, 2);
});

test("speech starting stops playback at once", async (t) => {
  const { audio, sockets } = await connected(t);
  sockets[0].emit({ type: "response.audio.delta", delta: "AAAA" });
  assert.deepEqual(audio.played, ["AAAA"]);
  sockets[0].emit({ type: "input_audio_buffer.speech_started" });
  assert.equal(audio.flushed, 1);
});

for (const [code, state, category] of [
  [1000, "off", "ended"],
  [1008, "error", "refused"],
]) {
  test(`close code ${code} does not reconnect: ${state}, ${category}`, async (t) => {
    const { api, sockets, seen, bridge, audio } = await connected(t);
    sockets[0].drop(code, "bye");
    await settle();
    t.mock.timers.tick(120_000);
    await settle();
    assert.equal(sockets.length, 1);
    assert.equal(api.tokens, 1);
    assert.equal(bridge.state, state);
    assert.deepEqual(seen.problems, [category]);
    assert.equal(audio.stopped, 1, "the microphone is released");
  });
}

test("other close codes reconnect with growing back-off and a fresh token each time", async (t) => {
  const { api, sockets, bridge } = await connected(t);
  sockets[0].drop(1011);
  t.mock.timers.tick(999); // attempt 0: at most 1 s
  await settle();
  assert.equal(sockets.length, 2);
  sockets[1].drop(1006); // dropped before it opened: attempt 1, 1–2 s
  await settle();
  t.mock.timers.tick(999);
  await settle();
  assert.equal(sockets.length, 2, "not before half the 2 s step");
  t.mock.timers.tick(1001);
  await settle();
  assert.equal(sockets.length, 3);
  assert.equal(api.tokens, 3);
  sockets[2].accept();
  await settle();
  assert.equal(bridge.state, "connected");
  assert.equal(bridge.attempt, 0, "back-off starts over once connected");
});

test("stop() closes the socket with 1000 and does not reconnect", async (t) => {
  const { sockets, bridge, api } = await connected(t);
  await bridge.stop();
  assert.deepEqual(sockets[0].closedWith, { code: 1000, reason: "stopped" });
  sockets[0].drop(1000);
  t.mock.timers.tick(60_000);
  await settle();
  assert.equal(sockets.length, 1);
  assert.equal(api.tokens, 1);
  assert.equal(bridge.state, "off");
});

test("a token near expiry is replaced between turns, not during one", async (t) => {
  const { api, sockets, bridge, seen } = await connected(t, { expiresInMs: 10 * 60_000 });
  callInOneResponse(sockets[0], "resp-1", [["call-1", { request: "Is there an outage?" }]]);
  await settle();
  t.mock.timers.tick(8 * 60_000); // renewal is due two minutes before expiry, but a call is pending
  await settle();
  assert.equal(sockets.length, 1);
  assert.equal(api.tokens, 1);

  api.answer("call-1", "No outage.");
  await settle();
  assert.deepEqual(sockets[0].outputs().map(([callId]) => callId), ["call-1"]);
  assert.equal(sockets.length, 1, "the model is about to answer: still not idle");
  sockets[0].emit({ type: "response.created", response: { id: "resp-2" } });
  sockets[0].emit({ type: "response.done", response: { id: "resp-2" } });
  await settle();
  assert.equal(api.tokens, 2);
  assert.equal(sockets.length, 2);
  assert.deepEqual(sockets[0].closedWith, { code: 1000, reason: "renewing the credential" });
  assert.equal(new URL(sockets[1].url).searchParams.get("Authorization"), "Bearer token-2");
  sockets[1].accept();
  await settle();
  assert.equal(bridge.state, "connected");
  assert.deepEqual(seen.states.slice(-2), ["renewing", "connected"]);
  assert.deepEqual(seen.problems, []);
});

test("a turn that begins while the new token is fetched delays the renewal until it ends", async (t) => {
  const { api, sockets, bridge } = await connected(t, { expiresInMs: 5 * 60_000 });
  api.tokenGate = deferred();
  t.mock.timers.tick(3 * 60_000);
  await settle();
  assert.equal(bridge.state, "renewing");
  callInOneResponse(sockets[0], "resp-1", [["call-1", { request: "Is there an outage?" }]]);
  api.tokenGate.resolve();
  api.tokenGate = null;
  await settle();
  assert.equal(sockets.length, 1, "not while the call is pending");
  assert.equal(bridge.state, "connected");

  api.answer("call-1", "No outage.");
  await settle();
  assert.deepEqual(sockets[0].outputs().map(([callId]) => callId), ["call-1"]);
  sockets[0].emit({ type: "response.created", response: { id: "resp-2" } });
  sockets[0].emit({ type: "response.done", response: { id: "resp-2" } });
  await settle();
  assert.equal(sockets.length, 2);
});

test("a key (no expiry) is never renewed", async (t) => {
  const { api, sockets } = await connected(t);
  t.mock.timers.tick(24 * 60 * 60_000);
  await settle();
  assert.equal(api.tokens, 1);
  assert.equal(sockets.length, 1);
});

test("a failed credential renewal keeps the open socket and tries again later", async (t) => {
  const { api, sockets, bridge, seen } = await connected(t, { expiresInMs: 5 * 60_000 });
  api.tokenError = new ApiError(0, "unreachable", "The service cannot be reached.", true);
  t.mock.timers.tick(3 * 60_000);
  await settle();
  assert.equal(sockets.length, 1);
  assert.equal(bridge.state, "connected");
  assert.deepEqual(seen.problems, ["network"]);
  api.tokenError = null;
  t.mock.timers.tick(30_000);
  await settle();
  assert.equal(sockets.length, 2);
});

test("a failure to get the token is reported in a category; final ones stop, others retry", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const cases = [
    // error, state, category, [earliest, latest] second attempt (null: never)
    [new ApiError(503, "not_configured", "Voice is not configured; use text mode."), "error", "not_configured", null],
    [new ApiError(401, "unauthenticated", "Sign in first."), "error", "signed_out", null],
    [new ApiError(429, "rate_limited", "Too many.", true, 20), "reconnecting", "rate_limited", [20_000, 20_000]],
    [new ApiError(0, "unreachable", "The service cannot be reached.", true), "reconnecting", "network", [500, 1000]],
  ];
  for (const [error, state, category, retry] of cases) {
    const api = new FakeApi();
    let tokens = 0;
    api.request = async (path) => {
      if (path === "/api/voice/token") tokens += 1;
      throw error;
    };
    const { bridge, sockets, seen } = fakeBridge(api);
    await bridge.start();
    assert.equal(bridge.state, state, category);
    assert.deepEqual(seen.problems, [category]);
    const [earliest, latest] = retry ?? [60_000, 60_000];
    t.mock.timers.tick(earliest - 1);
    await settle();
    assert.equal(tokens, 1, `${category}: not retried early`);
    t.mock.timers.tick(latest - earliest + 1);
    await settle();
    assert.equal(tokens, retry === null ? 1 : 2, category);
    assert.equal(sockets.length, 0, "no socket without a token");
    await bridge.stop();
  }
});

test("a denied microphone is reported as such and voice stops", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const audio = new FakeAudio();
  audio.startError = new DOMException("Permission denied", "NotAllowedError");
  const { bridge, sockets, seen } = fakeBridge(new FakeApi(), audio);
  await bridge.start();
  sockets[0].accept();
  await settle();
  assert.equal(bridge.state, "error");
  assert.equal(seen.problems[0], "microphone");
  assert.match(seen.messages[0], /Allow the microphone/);
  assert.deepEqual(sockets[0].closedWith, { code: 1000, reason: "stopped" });
  t.mock.timers.tick(60_000);
  await settle();
  assert.equal(sockets.length, 1);
});

test("problems fall into the categories the page explains", () => {
  const category = (error) => voiceProblem(error).category;
  assert.equal(category(new DOMException("denied", "NotAllowedError")), "microphone");
  assert.equal(category(new DOMException("none", "NotFoundError")), "microphone");
  assert.equal(category(new ApiError(401, "unauthenticated", "x")), "signed_out");
  assert.equal(category(new ApiError(403, "forbidden", "x")), "signed_out");
  assert.equal(category(new ApiError(429, "rate_limited", "x", true, 3)), "rate_limited");
  assert.equal(voiceProblem(new ApiError(429, "rate_limited", "x", true, 3)).retryAfterMs, 3000);
  assert.equal(category(new ApiError(503, "not_configured", "x")), "not_configured");
  assert.equal(category(new ApiError(0, "unreachable", "x", true)), "network");
  assert.equal(category(new VoiceSocketClosed(1006)), "network");
  assert.equal(category(new VoiceSocketClosed(1008)), "refused");
  assert.equal(category(new VoiceSocketClosed(1000)), "ended");
  assert.equal(category(new ApiError(502, "bad_gateway", "x", true)), "service");
  assert.equal(voiceProblem(new ApiError(502, "bad_gateway", "x", true)).retry, true);
  assert.equal(voiceProblem(new ApiError(400, "invalid_request", "Bad.")).retry, false);
  assert.equal(serviceProblem({ code: "rate_limit_exceeded", message: "Slow down." }).category, "rate_limited");
  assert.equal(serviceProblem({ code: "server_error" }).category, "service");
});

test("back-off grows exponentially to 30 s, with jitter between half and the whole step", () => {
  assert.equal(reconnectDelay(0, () => 0), 500);
  assert.equal(reconnectDelay(0, () => 1), 1000);
  assert.equal(reconnectDelay(3, () => 0), 4000);
  assert.equal(reconnectDelay(3, () => 1), 8000);
  assert.equal(reconnectDelay(10, () => 1), 30_000);
  assert.equal(reconnectDelay(50, () => 0), 15_000);
  const spread = new Set(Array.from({ length: 20 }, (_, i) => reconnectDelay(2, () => i / 20)));
  assert.equal(spread.size, 20);
});

// ----- typed text through the realtime session -----

/** The service takes every typed message sent so far (conversation.item.created). */
function takeTyped(socket) {
  for (const event of socket.sent) {
    if (event.type === "conversation.item.create" && event.item.type === "message") {
      socket.emit({ type: "conversation.item.created", item: { ...event.item, status: "completed" } });
    }
  }
}

/** The user message items the bridge sent: their input_text. */
function typedTexts(socket) {
  return socket.sent
    .filter((event) => event.type === "conversation.item.create" && event.item.type === "message")
    .map((event) => {
      assert.equal(event.item.role, "user");
      assert.equal(event.item.content.length, 1);
      assert.equal(event.item.content[0].type, "input_text");
      return event.item.content[0].text;
    });
}

test("typed text without a voice session opens a text-only session, without the microphone", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { api, sockets, audio, bridge, seen } = fakeBridge(new FakeApi());
  const sent = bridge.sendText("Is there an outage in my area?");
  await settle();
  assert.equal(api.tokens, 1, "the same credential as voice");
  sockets[0].accept();
  await settle();
  takeTyped(sockets[0]);
  await sent;
  assert.equal(audio.started, 0, "no microphone for text");
  assert.equal(bridge.mode, "text");
  assert.deepEqual(seen.states, ["connecting (text)", "connected (text)"]);
  const socket = sockets[0];
  assert.deepEqual(socket.types(), ["session.update", "conversation.item.create", "response.create"]);
  assert.deepEqual(socket.sent[0].session.modalities, ["text"]);
  assert.deepEqual(socket.sent[0].session.tools, [SESSION_TOOL], "the rest of the session as the API gave it");
  assert.deepEqual(typedTexts(socket), ["Is there an outage in my area?"]);
});

test("the model's tool call from typed text runs the tool path and its text reply streams", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { api, sockets, bridge, seen } = fakeBridge(new FakeApi());
  const sent = bridge.sendText("Is my bill paid?");
  await settle();
  sockets[0].accept();
  await settle();
  takeTyped(sockets[0]);
  await sent;
  const socket = sockets[0];
  callInOneResponse(socket, "resp-1", [["call-t", { request: "Is my bill paid?" }]]);
  await settle();
  assert.deepEqual(seen.calls, [["call-t", "text"]]);
  api.answer("call-t", "Your bill is paid.");
  await settle();
  assert.deepEqual(socket.outputs(), [["call-t", { status: "completed", answer: "Your bill is paid.", agents: ["contoso-outage-check-agent"], partial: false }]]);
  assert.deepEqual(socket.types().slice(-2), ["conversation.item.create", "response.create"]);

  socket.emit({ type: "response.created", response: { id: "resp-2" } });
  for (const delta of ["Your bill ", "is paid."]) {
    socket.emit({ type: "response.text.delta", response_id: "resp-2", item_id: "m1", content_index: 0, delta });
  }
  socket.emit({ type: "response.text.done", response_id: "resp-2", item_id: "m1", content_index: 0, text: "Your bill is paid." });
  socket.emit({ type: "response.done", response: { id: "resp-2" } });
  assert.deepEqual(seen.replies, [
    ["Your bill ", false],
    ["Your bill is paid.", false],
    ["Your bill is paid.", true],
  ]);
  assert.ok(bridge.idle());
});

test("typed text goes into an open voice session; response.create waits for the active response", async (t) => {
  const { sockets, bridge, audio, seen } = await connected(t);
  const socket = sockets[0];
  socket.emit({ type: "response.created", response: { id: "resp-1" } }); // the model is speaking
  const sent = bridge.sendText("And my plan?");
  takeTyped(socket);
  await sent;
  assert.equal(sockets.length, 1, "no second session");
  assert.equal(bridge.mode, "audio");
  assert.equal(audio.started, 1);
  assert.deepEqual(typedTexts(socket), ["And my plan?"]);
  assert.ok(!socket.types().includes("response.create"), "not while a response is active");
  socket.emit({ type: "response.done", response: { id: "resp-1" } });
  assert.equal(socket.types().at(-1), "response.create");
  socket.emit({ type: "response.function_call_arguments.done", response_id: "resp-2", call_id: "c-typed", name: TOOL_NAME, arguments: "{}" });
  socket.emit({ type: "input_audio_buffer.speech_started" });
  socket.emit({ type: "response.function_call_arguments.done", response_id: "resp-3", call_id: "c-spoken", name: TOOL_NAME, arguments: "{}" });
  await settle();
  assert.deepEqual(seen.calls, [
    ["c-typed", "text"],
    ["c-spoken", "speech"],
  ]);
});

test("starting voice while a text session is open adds audio to that same session", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { sockets, audio, bridge, seen } = fakeBridge(new FakeApi());
  const sent = bridge.sendText("Hello");
  await settle();
  sockets[0].accept();
  await settle();
  takeTyped(sockets[0]);
  await sent;
  await bridge.start();
  assert.equal(sockets.length, 1);
  assert.equal(audio.started, 1);
  assert.equal(bridge.mode, "audio");
  const updates = sockets[0].sent.filter((event) => event.type === "session.update");
  assert.deepEqual(updates.map((event) => event.session.modalities), [["text"], undefined]);
  assert.deepEqual(seen.states.slice(-1), ["connected"]);
});

test("typed text whose session cannot open is given back (rejected), with the problem", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const api = new FakeApi();
  api.tokenError = new ApiError(503, "not_configured", "Voice is not configured.");
  const { bridge, sockets } = fakeBridge(api);
  await assert.rejects(bridge.sendText("Hello"), (error) => error.category === "not_configured");
  assert.equal(sockets.length, 0);
  assert.equal(bridge.state, "error");

  // A session that drops before it opens: rejected too, and the bridge reconnects in text mode.
  api.tokenError = null;
  const sent = bridge.sendText("Hello again");
  await settle();
  sockets[0].drop(1006);
  await assert.rejects(sent, (error) => error.category === "network");
  t.mock.timers.tick(1000);
  await settle();
  sockets[1].accept();
  await settle();
  assert.equal(bridge.mode, "text");
  assert.deepEqual(sockets[1].types(), ["session.update"], "nothing typed was replayed");
});

test("the form's fields reach the model with the text and are merged into its tool call", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { api, sockets, bridge } = fakeBridge(new FakeApi());
  const fields = { customer: { firstName: "Jane" }, symptoms: ["no_internet"], ledState: "red" };
  const sent = bridge.sendText("Help", fields);
  await settle();
  sockets[0].accept();
  await settle();
  takeTyped(sockets[0]);
  await sent;
  assert.deepEqual(typedTexts(sockets[0]), ["Help\n\n(Form fields: customer firstName: Jane; symptoms no_internet; details ledState: red)"]);
  callInOneResponse(sockets[0], "resp-1", [["c1", { request: "Help", customer: { firstName: "Jne", lastName: "Doe" }, symptoms: ["slow_internet"] }]]);
  await settle();
  assert.deepEqual(api.bodies.get("c1"), {
    conversationId: "conv-1",
    callId: "c1",
    request: "Help",
    customer: { firstName: "Jane", lastName: "Doe" },
    symptoms: ["slow_internet", "no_internet"],
    ledState: "red",
  });
});

test("helpers: the text session, the typed message, the merge", () => {
  const session = { type: "session.update", session: { modalities: ["text", "audio"], voice: { name: "x" } } };
  assert.deepEqual(sessionFor(session, "text"), { type: "session.update", session: { modalities: ["text"], voice: { name: "x" } } });
  assert.equal(sessionFor(session, "audio"), session);
  assert.deepEqual(session.session.modalities, ["text", "audio"], "not changed in place");
  assert.equal(typedMessage("Hi", null), "Hi");
  assert.equal(typedMessage("Hi", { customer: {}, symptoms: [] }), "Hi");
  const body = { request: "r" };
  assert.equal(withTypedFields(body, null), body);
  assert.deepEqual(withTypedFields(body, { symptoms: ["a"] }), { request: "r", symptoms: ["a"] });
});

test("typed text the service refuses, or does not take in time, is given back", async (t) => {
  const { sockets, bridge } = await connected(t);
  const socket = sockets[0];
  const refused = bridge.sendText("One");
  const item = socket.sent.at(-2);
  assert.equal(item.type, "conversation.item.create");
  assert.ok(item.event_id && item.item.id, "our own ids, to match the answer");
  socket.emit({ type: "error", error: { type: "invalid_request_error", code: "invalid_value", message: "Bad item.", event_id: item.event_id } });
  await assert.rejects(refused, /Bad item/);

  const silent = bridge.sendText("Two");
  let given = null;
  silent.catch((error) => {
    given = error;
  });
  t.mock.timers.tick(19_999);
  await settle();
  assert.equal(given, null);
  t.mock.timers.tick(1);
  await settle();
  assert.match(given.message, /did not take the text/);
  assert.equal(bridge.unconfirmed.length, 0);
});

test("typed text sent on a socket that closes before the service took it is given back", async (t) => {
  const { sockets, bridge } = await connected(t);
  const sent = bridge.sendText("Hello");
  sockets[0].drop(1008, "policy");
  await assert.rejects(sent, (error) => error.category === "refused");
  assert.equal(bridge.state, "error");
});

test("the forwarded argument fields are the ones the session's tool declares", () => {
  const tool = (properties) => ({ session: { tools: [{ type: "function", name: TOOL_NAME, parameters: { type: "object", properties } }] } });
  assert.deepEqual(argumentFields(tool({ request: {}, customer: {}, ledState: {}, agents: {} })), ["request", "customer", "ledState", "agents"]);
  assert.deepEqual(argumentFields(tool({ request: {}, ledState: {}, callId: {} })), ["request", "ledState"]);
  assert.deepEqual(argumentFields(null), ["request", "customer", "symptoms", "agents"]);
  assert.deepEqual(argumentFields({ session: { tools: [{ name: "other", parameters: { properties: { x: {} } } }] } }), [
    "request",
    "customer",
    "symptoms",
    "agents",
  ]);
});

const IDLE_MS = 5 * 60_000;

test("a voice session without speech or a pending call ends after the idle time, and Start resumes it", async (t) => {
  const { sockets, bridge, audio, seen } = await connected(t, {}, { idleMs: IDLE_MS });
  t.mock.timers.tick(IDLE_MS / 2);
  sockets[0].emit({ type: "input_audio_buffer.speech_started" }); // speech: the clock starts again
  t.mock.timers.tick(IDLE_MS - 1);
  await settle();
  assert.equal(bridge.state, "connected");
  t.mock.timers.tick(1);
  await settle();
  assert.equal(bridge.state, "idle");
  assert.equal(sockets[0].closedWith?.code, 1000, "the socket is closed: Voice Live bills an open session");
  assert.equal(audio.stopped, 1, "and the microphone");
  assert.deepEqual(seen.states.slice(-1), ["idle"]);

  await bridge.start(); // one click resumes
  sockets[1].accept();
  await settle();
  assert.equal(bridge.state, "connected");
});

test("a response still running keeps an idle voice session open until it is done", async (t) => {
  const { sockets, bridge } = await connected(t, {}, { idleMs: IDLE_MS });
  sockets[0].emit({ type: "response.created", response: { id: "resp-1" } });
  t.mock.timers.tick(IDLE_MS * 3);
  await settle();
  assert.equal(bridge.state, "connected");
  sockets[0].emit({ type: "response.done", response: { id: "resp-1" } });
  t.mock.timers.tick(IDLE_MS);
  await settle();
  assert.equal(bridge.state, "idle");
});

test("without an idle time a voice session stays open", async (t) => {
  const { bridge } = await connected(t);
  t.mock.timers.tick(24 * 60 * 60_000);
  await settle();
  assert.equal(bridge.state, "connected");
});

test("each tool call's latency, from the model's call to the answer handed back, is reported", async (t) => {
  const reports = [];
  const { api, sockets, bridge } = await connected(t);
  bridge.hooks.onLatency = (report) => reports.push(report);
  callInOneResponse(sockets[0], "resp-1", [["call-fast", { request: "Outage?" }], ["call-slow", { request: "Bill?" }]]);
  await settle();
  t.mock.timers.tick(1200);
  api.answer("call-fast", "No outage.");
  await settle();
  assert.deepEqual(reports, [{ callId: "call-fast", latencyMs: 1200, outcome: "answered" }]);
  t.mock.timers.tick(800);
  api.posts.get("call-slow").reject(new ApiError(503, "upstream_unavailable", "Down.", true));
  await settle();
  assert.deepEqual(reports.slice(1), [{ callId: "call-slow", latencyMs: 2000, outcome: "failed" }]);
});

test("a follow-up goes into the open session as a system message, then one response.create after the active one", async (t) => {
  const { sockets, bridge } = await connected(t);
  const socket = sockets[0];
  socket.emit({ type: "response.created", response: { id: "resp-1" } }); // the model is speaking

  assert.equal(bridge.speakFollowUp("The technician visit is booked for Tuesday."), true);

  const item = socket.sent.at(-1);
  assert.equal(item.type, "conversation.item.create");
  assert.deepEqual(item.item, {
    type: "message",
    role: "system",
    content: [{ type: "input_text", text: followUpMessage("The technician visit is booked for Tuesday.") }],
  });
  assert.match(item.item.content[0].text, /Tell the caller now: The technician visit is booked for Tuesday\.$/);
  assert.ok(!socket.types().includes("response.create"), "not while a response is active");
  socket.emit({ type: "response.done", response: { id: "resp-1" } });
  assert.deepEqual(socket.types().slice(-2), ["conversation.item.create", "response.create"]);
});

test("a follow-up with no open session is not sent (the page and the history keep it)", async (t) => {
  const { sockets, bridge } = await connected(t);
  await bridge.stop();
  assert.equal(bridge.speakFollowUp("Booked."), false);
  assert.ok(!sockets[0].sent.some((event) => event.item?.role === "system"));
});
