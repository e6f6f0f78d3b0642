// The Voice Live bridge. The browser talks to Voice Live directly (short-lived credential from
// GET /api/voice/token, session from GET /api/voice/session); when the model calls
// `send_to_agent_network`, the call is posted to /api/messages with the call's own call_id as
// callId, and its answer goes back as the function_call_output of exactly that call_id.
// Never first-in-first-out: each answer is bound to its call from the start.
//
// Per the Voice Live function-calling sequence: outputs are sent once the response that made the
// calls is done; one output per call, then a single response.create for that response (deferred
// while another response is active). A socket that drops is reconnected with back-off, jitter and
// a fresh token; calls of the old socket are abandoned and their late answers dropped. A token
// that is about to expire is replaced between turns, by reconnecting while nothing is pending.

import { base64FromBytes } from "./audio.js";

export const TOOL_NAME = "send_to_agent_network";
const ARGUMENT_FIELDS = ["request", "customer", "symptoms", "ledState", "preferredDate", "agents"];
const OPEN = 1; // WebSocket.OPEN (read from the socket object, so test doubles need no global)
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const RENEW_BEFORE_MS = 2 * 60_000; // Entra tokens live about an hour; keep well clear of expiry
const RENEW_RETRY_MS = 30_000;

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

/** Exponential back-off with jitter: half the step fixed, half random, so clients spread out. */
export function reconnectDelay(attempt, random = Math.random) {
  const step = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(attempt, 10));
  return Math.round(step / 2 + (step / 2) * random());
}

/** The voice socket closed without being asked to. */
export class VoiceSocketClosed extends Error {
  constructor(code, reason = "") {
    super(`The voice connection closed (${code}${reason ? `: ${reason}` : ""}).`);
    this.name = "VoiceSocketClosed";
    this.code = code;
  }
}

/**
 * What went wrong, in a category the person can act on, and whether trying again may help.
 * @param {Error & {status?: number, code?: string|number, retryAfter?: number|null}} error
 * @returns {{category: "microphone"|"signed_out"|"rate_limited"|"not_configured"|"network"|"refused"|"ended"|"service",
 *            message: string, retry: boolean, retryAfterMs: number}}
 */
export function voiceProblem(error) {
  const problem = (category, message, retry, retryAfterMs = 0) => ({ category, message, retry, retryAfterMs });
  const name = error?.name || "";
  if (name === "NotAllowedError" || name === "SecurityError") {
    return problem("microphone", "Microphone access was denied. Allow the microphone for this site, then start voice again.", false);
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return problem("microphone", "No microphone was found. Connect one, then start voice again.", false);
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return problem("microphone", "The microphone is in use by another application. Close it, then start voice again.", false);
  }
  if (error instanceof VoiceSocketClosed) {
    // 1000: the service ended the session on purpose; 1008: it refused it (policy, e.g. the
    // credential). Reconnecting with the same inputs cannot help: say so instead.
    if (error.code === 1000) return problem("ended", "The voice session ended. Start voice again to continue.", false);
    if (error.code === 1008) {
      return problem("refused", "The voice service refused the session. Start voice again; if it happens again, sign out and in.", false);
    }
    if (error.code === 1013) return problem("rate_limited", "The voice service is busy. Reconnecting shortly…", true);
    return problem("network", "The voice connection was lost. Reconnecting…", true);
  }
  const status = typeof error?.status === "number" ? error.status : null;
  if (status === 401) return problem("signed_out", "You are signed out. Sign in again to use voice.", false);
  if (status === 403) return problem("signed_out", "This account may not use voice. Sign in with another account.", false);
  if (status === 429) {
    const wait = Math.max(0, Number(error.retryAfter) || 0) * 1000;
    return problem("rate_limited", "Too many voice sessions were started. Trying again shortly…", true, wait);
  }
  if (error?.code === "not_configured") {
    return problem("not_configured", "Voice is not set up on this service. Use the text box instead.", false);
  }
  if (status === 0) return problem("network", "The service cannot be reached. Check the network; reconnecting…", true);
  if (status !== null && status >= 400 && status < 500 && status !== 408) {
    return problem("service", `${error.message} Use the text box instead.`, false);
  }
  return problem("service", "The voice service is unavailable right now. Reconnecting…", true);
}

/** A Voice Live `error` event (the session stays open), in the same terms as voiceProblem. */
export function serviceProblem(error) {
  const code = String(error?.code || "");
  const message = error?.message || "The voice service reported an error.";
  if (/rate_limit|quota|too_many/i.test(code)) {
    return { category: "rate_limited", message: `${message} Wait a moment, then speak again.`, retry: true, retryAfterMs: 0 };
  }
  return { category: "service", message, retry: true, retryAfterMs: 0 };
}

/** States: off, connecting, connected, renewing, reconnecting, error. */
export class VoiceBridge extends EventTarget {
  /**
   * @param {{
   *   api: {request: Function},
   *   delegations: import("./delegations.js").Delegations,
   *   audio: {start: Function, play: Function, flush: Function, stop: Function},
   *   conversationId: () => string,
   *   createSocket?: (url: string) => WebSocket,
   *   hooks: {
   *     onCall?: (call: {callId: string, body: object}) => void,
   *     onAccepted?: (callId: string, data: object, status: number) => void,
   *     onAnswer?: (callId: string, answer: object) => void,
   *     onFailed?: (callId: string, error: Error) => void,
   *     onLate?: (callId: string, answer: object|null) => void,
   *     onTranscript?: (who: string, text: string) => void,
   *     onProblem?: (problem: ReturnType<typeof voiceProblem>) => void,
   *   },
   * }} options
   */
  constructor({ api, delegations, audio, conversationId, createSocket = (url) => new WebSocket(url), hooks = {} }) {
    super();
    this.api = api;
    this.delegations = delegations;
    this.audio = audio;
    this.conversationId = conversationId;
    this.createSocket = createSocket;
    this.hooks = hooks;
    this.state = "off";
    this.history = [];
    this.wanted = false;
    this.socket = null;
    this.epoch = 0;
    this.attempt = 0;
    this.retryTimer = null;
    this.renewTimer = null;
    this.renewDue = false;
    this.resetSession();
  }

  resetSession() {
    this.calls = new Map(); // call_id -> {callId, responseId, output, sent, epoch}
    this.responses = new Map(); // response id -> {done, callIds: []}
    this.activeResponse = null;
    this.createAfterActive = false;
  }

  setState(state, problem = null) {
    if (state === this.state && !problem) return;
    this.state = state;
    this.history.push(state);
    if (this.history.length > 50) this.history.shift();
    this.dispatchEvent(new CustomEvent("state", { detail: { state, problem } }));
  }

  async start() {
    if (this.wanted) return;
    this.wanted = true;
    this.attempt = 0;
    await this.connect();
  }

  /** A fresh credential and session on every (re)connect: tokens are short-lived. */
  async credentials() {
    const [token, session] = await Promise.all([
      this.api.request("/api/voice/token"),
      this.api.request("/api/voice/session"),
    ]);
    return { credential: token.data, session: session.data };
  }

  async connect() {
    this.setState(this.attempt ? "reconnecting" : "connecting");
    let fresh;
    try {
      fresh = await this.credentials();
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.wanted && !this.socket) this.open(fresh);
  }

  open({ credential, session }) {
    const epoch = ++this.epoch;
    this.resetSession();
    const socket = this.createSocket(voiceUrl(credential));
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
        this.fail(error);
        return;
      }
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.planRenewal(credential.expiresAt);
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
      if (this.socket !== socket) return; // closed by us: stop() or a renewal
      this.socket = null;
      this.resetSession(); // its calls can never be answered on another socket
      if (!this.wanted) {
        this.setState("off");
        return;
      }
      this.fail(new VoiceSocketClosed(close.code, close.reason));
    };
  }

  /** Report the problem; reconnect when trying again may help, else stop in the error state. */
  fail(error) {
    if (!this.wanted) return;
    const problem = voiceProblem(error);
    this.hooks.onProblem?.(problem);
    if (problem.retry) {
      this.scheduleReconnect(problem);
      return;
    }
    this.shutDown(problem.category === "ended" ? "off" : "error", problem);
  }

  scheduleReconnect(problem) {
    const wait = Math.max(reconnectDelay(this.attempt), problem.retryAfterMs);
    this.attempt += 1;
    this.setState("reconnecting", problem);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  /** Replace the credential a little before it expires, at the first moment nothing is pending. */
  planRenewal(expiresAt) {
    clearTimeout(this.renewTimer);
    this.renewDue = false;
    const expiry = expiresAt ? Date.parse(expiresAt) : NaN;
    if (!Number.isFinite(expiry)) return; // a key does not expire
    const wait = Math.max(0, expiry - RENEW_BEFORE_MS - Date.now());
    this.renewTimer = setTimeout(() => {
      this.renewDue = true;
      this.renewIfIdle();
    }, wait);
  }

  idle() {
    return this.calls.size === 0 && this.activeResponse === null && !this.createAfterActive;
  }

  async renewIfIdle() {
    if (!this.renewDue || !this.idle() || this.state !== "connected") return;
    this.renewDue = false;
    this.setState("renewing");
    let fresh;
    try {
      fresh = await this.credentials();
    } catch (error) {
      // The open socket stays usable; try again a little later.
      this.hooks.onProblem?.(voiceProblem(error));
      this.setState("connected");
      this.renewTimer = setTimeout(() => {
        this.renewDue = true;
        this.renewIfIdle();
      }, RENEW_RETRY_MS);
      return;
    }
    if (!this.wanted || !this.socket) return;
    if (!this.idle()) {
      // A turn began while the token was fetched: renew after it.
      this.renewDue = true;
      this.setState("connected");
      return;
    }
    const old = this.socket;
    this.socket = null;
    old.close(1000, "renewing the credential");
    this.open(fresh);
  }

  send(event) {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(event));
  }

  handle(event, epoch) {
    switch (event.type) {
      case "error":
        this.hooks.onProblem?.(serviceProblem(event.error));
        break;
      case "input_audio_buffer.speech_started":
        this.audio.flush(); // the person talks over the assistant: stop playing at once
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
        if (!id || this.activeResponse === id) this.activeResponse = null;
        const response = id && this.responses.get(id);
        if (response) response.done = true;
        if (this.createAfterActive && !this.activeResponse) {
          this.createAfterActive = false;
          this.send({ type: "response.create" });
        }
        this.flush();
        this.renewIfIdle();
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

  /** Close the socket and the microphone and settle in `state` (off, or error with the problem). */
  async shutDown(state, problem = null) {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.renewTimer);
    this.renewDue = false;
    const socket = this.socket;
    this.socket = null;
    this.resetSession();
    if (socket) socket.close(1000, "stopped");
    this.setState(state, problem);
    await this.audio.stop();
  }

  /** The person stopped voice. */
  async stop() {
    await this.shutDown("off");
  }
}
