// The Voice Live bridge. The browser talks to Voice Live directly (short-lived credential from
// GET /api/voice/token, session from GET /api/voice/session); when the model calls
// `send_to_agent_network`, the call is posted to /api/messages with the call's own call_id as
// callId, and its answer goes back as the function_call_output of exactly that call_id.
// Never first-in-first-out: each answer is bound to its call from the start.
//
// Per the Voice Live function-calling sequence: outputs are sent once the response that made the
// calls is done; one output per call, then a single response.create for that response (deferred
// while another response is active). A socket that drops is reconnected with back-off and a
// fresh token; calls of the old socket are abandoned and their late answers dropped.

import { base64FromBytes } from "./audio.js";

export const TOOL_NAME = "send_to_agent_network";
const ARGUMENT_FIELDS = ["request", "customer", "symptoms", "ledState", "preferredDate"];
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

/** wss:// from https:// (ws:// from http://, for a local test double), path and query. */
export function voiceUrl(credential) {
  const base = new URL(credential.endpoint);
  base.protocol = base.protocol === "http:" ? "ws:" : "wss:";
  base.pathname = `${base.pathname.replace(/\/+$/, "")}/voice-live/realtime`;
  base.search = "";
  base.searchParams.set("api-version", credential.apiVersion);
  base.searchParams.set("model", credential.model);
  if (credential.authType === "api-key") base.searchParams.set("api-key", credential.token);
  else base.searchParams.set("Authorization", `Bearer ${credential.token}`);
  return base.toString();
}

/** The POST /api/messages body from the tool's arguments (unknown fields left out). */
export function messageBody(args, callId, conversationId) {
  const body = { conversationId, callId };
  for (const field of ARGUMENT_FIELDS) {
    if (args[field] !== undefined && args[field] !== null && args[field] !== "") body[field] = args[field];
  }
  if (typeof body.request !== "string" || !body.request.trim()) body.request = "The customer needs help.";
  return body;
}

/** States: off, connecting, connected, reconnecting, error. */
export class VoiceBridge extends EventTarget {
  /**
   * @param {{
   *   api: {request: Function},
   *   delegations: import("./delegations.js").Delegations,
   *   audio: import("./audio.js").AudioIO,
   *   conversationId: () => string,
   *   hooks: {
   *     onCall?: (call: {callId: string, body: object}) => void,
   *     onAccepted?: (callId: string, data: object, status: number) => void,
   *     onAnswer?: (callId: string, answer: object) => void,
   *     onFailed?: (callId: string, error: Error) => void,
   *     onLate?: (callId: string, answer: object|null) => void,
   *     onTranscript?: (who: string, text: string) => void,
   *     onError?: (error: Error) => void,
   *   },
   * }} options
   */
  constructor({ api, delegations, audio, conversationId, hooks = {} }) {
    super();
    this.api = api;
    this.delegations = delegations;
    this.audio = audio;
    this.conversationId = conversationId;
    this.hooks = hooks;
    this.state = "off";
    this.history = [];
    this.wanted = false;
    this.socket = null;
    this.epoch = 0;
    this.attempt = 0;
    this.retryTimer = null;
    this.resetSession();
  }

  resetSession() {
    this.calls = new Map(); // call_id -> {callId, responseId, output, sent}
    this.responses = new Map(); // response id -> {done, callIds: []}
    this.activeResponse = null;
    this.createAfterActive = false;
  }

  setState(state, error = null) {
    if (state === this.state && !error) return;
    this.state = state;
    this.history.push(state);
    if (this.history.length > 50) this.history.shift();
    this.dispatchEvent(new CustomEvent("state", { detail: { state, error } }));
  }

  async start() {
    if (this.wanted) return;
    this.wanted = true;
    this.attempt = 0;
    await this.connect();
  }

  async connect() {
    this.setState(this.attempt ? "reconnecting" : "connecting");
    let credential;
    let session;
    try {
      // A fresh credential on every (re)connect: tokens are short-lived.
      const [token, update] = await Promise.all([
        this.api.request("/api/voice/token"),
        this.api.request("/api/voice/session"),
      ]);
      credential = token.data;
      session = update.data;
    } catch (error) {
      this.hooks.onError?.(error);
      const fatal = error.code === "not_configured" || (error.status >= 400 && error.status < 500);
      if (fatal && error.status !== 429 && error.status !== 408) {
        this.wanted = false;
        this.setState("error", error);
        return;
      }
      this.scheduleReconnect(error);
      return;
    }
    if (!this.wanted) return;
    const epoch = ++this.epoch;
    this.resetSession();
    const socket = new WebSocket(voiceUrl(credential));
    this.socket = socket;
    socket.onopen = async () => {
      if (this.socket !== socket) return;
      this.send(session);
      try {
        // The microphone outlives a reconnect: its chunks go to whichever socket is open.
        await this.audio.start((chunk) => {
          this.send({ type: "input_audio_buffer.append", audio: base64FromBytes(chunk) });
        });
      } catch (error) {
        this.hooks.onError?.(new Error(`The microphone could not be started: ${error.message}`));
        this.stop();
        return;
      }
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.setState("connected");
    };
    socket.onmessage = (message) => {
      if (this.socket !== socket || typeof message.data !== "string") return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      this.handle(event, epoch);
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.abandonCalls();
      if (!this.wanted) {
        this.setState("off");
        return;
      }
      this.scheduleReconnect(new Error(`The voice connection closed (${close.code}).`));
    };
  }

  scheduleReconnect(error) {
    if (!this.wanted) return;
    const wait = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.setState("reconnecting", error);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait * (0.8 + Math.random() * 0.4));
  }

  /** Calls of a socket that is gone can never be answered on it: forget them. */
  abandonCalls() {
    this.resetSession();
  }

  send(event) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(event));
  }

  handle(event, epoch) {
    switch (event.type) {
      case "error":
        this.hooks.onError?.(new Error(event.error?.message || "Voice Live reported an error."));
        break;
      case "input_audio_buffer.speech_started":
        this.audio.flush(); // the person talks over the assistant
        break;
      case "response.created":
        this.activeResponse = event.response?.id || null;
        if (this.activeResponse && !this.responses.has(this.activeResponse)) {
          this.responses.set(this.activeResponse, { done: false, callIds: [] });
        }
        break;
      case "response.audio.delta":
        if (event.delta) this.audio.play(event.delta);
        break;
      case "response.audio_transcript.done":
        this.hooks.onTranscript?.("assistant", event.transcript);
        break;
      case "conversation.item.input_audio_transcription.completed":
        this.hooks.onTranscript?.("user", event.transcript);
        break;
      case "response.function_call_arguments.done":
        this.onFunctionCall(event, epoch);
        break;
      case "response.done": {
        const id = event.response?.id;
        if (id && this.activeResponse === id) this.activeResponse = null;
        if (!id) this.activeResponse = null;
        const response = id && this.responses.get(id);
        if (response) response.done = true;
        if (this.createAfterActive && !this.activeResponse) {
          this.createAfterActive = false;
          this.send({ type: "response.create" });
        }
        this.flush();
        break;
      }
      default:
        break;
    }
  }

  onFunctionCall(event, epoch) {
    const callId = event.call_id;
    if (!callId || this.calls.has(callId)) return; // a repeated done event: same call
    const responseId = event.response_id || this.activeResponse || `response-of-${callId}`;
    if (!this.responses.has(responseId)) this.responses.set(responseId, { done: false, callIds: [] });
    this.responses.get(responseId).callIds.push(callId);
    const call = { callId, responseId, output: null, sent: false, epoch };
    this.calls.set(callId, call);

    if (event.name !== TOOL_NAME) {
      this.answer(call, { status: "error", message: `Unknown tool ${event.name}.` });
      return;
    }
    let args;
    try {
      args = JSON.parse(event.arguments || "{}");
    } catch {
      this.answer(call, { status: "error", message: "The tool arguments were not valid JSON." });
      return;
    }
    const body = messageBody(args && typeof args === "object" ? args : {}, callId, this.conversationId());
    this.hooks.onCall?.({ callId, body });
    this.delegations
      .run(body, { onAccepted: (data, status) => this.hooks.onAccepted?.(callId, data, status) })
      .then((result) => {
        if (!this.isLive(call)) {
          this.hooks.onLate?.(callId, result); // shown in the timeline, never sent to the new socket
          return;
        }
        this.hooks.onAnswer?.(callId, result);
        this.answer(call, { status: "completed", answer: result.answer, agents: result.agents, partial: result.partial });
      })
      .catch((error) => {
        if (!this.isLive(call)) {
          this.hooks.onLate?.(callId, null);
          return;
        }
        this.hooks.onFailed?.(callId, error);
        this.answer(call, {
          status: "error",
          message: error.message || "The specialists could not be reached.",
          retryable: Boolean(error.retryable),
        });
      });
  }

  /** True while the call belongs to the socket that is open now. */
  isLive(call) {
    return call.epoch === this.epoch && this.calls.get(call.callId) === call && this.socket !== null;
  }

  answer(call, output) {
    call.output = JSON.stringify(output);
    this.flush();
  }

  /** Send the outputs that are ready for finished responses; one response.create per response. */
  flush() {
    let create = false;
    for (const [responseId, response] of this.responses) {
      if (!response.done) continue;
      for (const callId of response.callIds) {
        const call = this.calls.get(callId);
        if (call && call.output !== null && !call.sent) {
          this.send({
            type: "conversation.item.create",
            item: { type: "function_call_output", call_id: call.callId, output: call.output },
          });
          call.sent = true;
        }
      }
      const complete = response.callIds.every((callId) => this.calls.get(callId)?.sent);
      if (complete) {
        this.responses.delete(responseId);
        for (const callId of response.callIds) this.calls.delete(callId);
        if (response.callIds.length) create = true;
      }
    }
    if (!create) return;
    if (this.activeResponse) this.createAfterActive = true;
    else this.send({ type: "response.create" });
  }

  async stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    this.abandonCalls();
    await this.audio.stop();
    if (socket) socket.close(1000, "stopped");
    this.setState("off");
  }
}
