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
//
// Typed text goes into the same realtime session (sendText): into the voice session when one is
// open, else into a session opened in text modality without the microphone. The model reads it
// exactly as it hears speech and fills the tool; its text reply streams as response.text.delta.
//
// A follow-up (what an agent said after a supervisor answered it, long after its call was
// answered) goes into the open session as a system message, then a response.create (after the
// active response, if any), so the model tells the caller (speakFollowUp).

import { base64FromBytes } from "./audio.js";
import { newId } from "./dom.js";

export const TOOL_NAME = "send_to_agent_network";
const ARGUMENT_FIELDS = ["request", "customer", "symptoms", "agents"];
const OPEN = 1; // WebSocket.OPEN (read from the socket object, so test doubles need no global)
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const RENEW_BEFORE_MS = 2 * 60_000; // Entra tokens live about an hour; keep well clear of expiry
const RENEW_RETRY_MS = 30_000;
const CONFIRM_MS = 20_000; // typed text the service has not taken by then is given back

/** The system message that hands the model a follow-up to tell the caller. */
export function followUpMessage(text) {
  return `Follow-up from the agent network on the caller's earlier request. Tell the caller now: ${text}`;
}

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

/**
 * The argument fields to forward: the ones the session's tool declares (its parameter schema is
 * generated from the playbook and the registry), else the standard ones.
 */
export function argumentFields(session) {
  const tool = (session?.session?.tools || []).find((candidate) => candidate?.name === TOOL_NAME);
  const declared = Object.keys(tool?.parameters?.properties || {}).filter((name) => name !== "conversationId" && name !== "callId");
  return declared.length ? declared : ARGUMENT_FIELDS;
}

/** The POST /api/messages body from the tool's arguments (unknown fields left out). */
export function messageBody(args, callId, conversationId, fields = ARGUMENT_FIELDS) {
  const body = { conversationId, callId };
  for (const field of fields) {
    if (args[field] !== undefined && args[field] !== null && args[field] !== "") body[field] = args[field];
  }
  if (typeof body.request !== "string" || !body.request.trim()) body.request = "The customer needs help.";
  return body;
}

/**
 * The tool call's body with what the person typed into the form's fields (identity, symptoms,
 * the playbook's details) for the message the model answers: the fields win over the model's
 * guesses, the symptoms are joined. `fields` is {customer?, symptoms?, ...details} as the form
 * sends them.
 */
export function withTypedFields(body, fields) {
  if (!fields) return body;
  const { customer, symptoms, ...details } = fields;
  const merged = { ...body, ...details };
  if (customer && Object.keys(customer).length) {
    const fromModel = merged.customer && typeof merged.customer === "object" ? merged.customer : {};
    merged.customer = { ...fromModel, ...customer };
  }
  if (symptoms?.length) {
    const fromModel = Array.isArray(merged.symptoms) ? merged.symptoms : [];
    merged.symptoms = [...new Set([...fromModel, ...symptoms])];
  }
  return merged;
}

/** The session.update for a mode: as the API gave it for voice; text modality only for text. */
export function sessionFor(session, mode) {
  if (mode === "audio") return session;
  return { ...session, session: { ...session.session, modalities: ["text"] } };
}

/** The typed message for the model: the text, and the form's fields when some were filled. */
export function typedMessage(text, fields) {
  const parts = [];
  const customer = Object.entries(fields?.customer || {}).map(([name, value]) => `${name}: ${value}`);
  if (customer.length) parts.push(`customer ${customer.join(", ")}`);
  if (fields?.symptoms?.length) parts.push(`symptoms ${fields.symptoms.join(", ")}`);
  const { customer: _customer, symptoms: _symptoms, ...given } = fields || {};
  const details = Object.entries(given).map(([name, value]) => `${name}: ${value}`);
  if (details.length) parts.push(`details ${details.join(", ")}`);
  return parts.length ? `${text}\n\n(Form fields: ${parts.join("; ")})` : text;
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

/**
 * States: off, connecting, connected, renewing, reconnecting, error; `mode` is "audio" (voice:
 * the microphone streams) or "text" (typed text only, no microphone).
 */
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
   *     onReplyText?: (key: string, text: string, done: boolean) => void,
   *     onLatency?: (report: {callId: string, latencyMs: number, outcome: "answered"|"failed"|"late"}) => void,
   *     onProblem?: (problem: ReturnType<typeof voiceProblem>) => void,
   *   },
   * }} options
   */
  constructor({ api, delegations, audio, conversationId, createSocket = (url) => new WebSocket(url), hooks = {}, idleMs = 0 }) {
    super();
    this.idleMs = idleMs; // a session without speech or a pending call this long ends (0: never)
    this.idleTimer = null;
    this.api = api;
    this.delegations = delegations;
    this.audio = audio;
    this.conversationId = conversationId;
    this.createSocket = createSocket;
    this.hooks = hooks;
    this.state = "off";
    this.mode = "audio";
    this.history = [];
    this.outbox = []; // typed texts waiting for the session to open: {text, fields, resolve, reject}
    this.unconfirmed = []; // typed texts sent, until conversation.item.created: {itemId, eventId, resolve, reject, timer}
    this.typedFields = null; // the form's fields of the last typed message, until speech
    this.lastInput = "speech";
    this.wanted = false;
    this.socket = null;
    this.session = null; // the session.update from GET /api/voice/session, for the open socket
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
    this.requested = false; // response.create sent, response.created not yet seen
    this.replies = new Map(); // text part key -> the text so far
  }

  setState(state, problem = null, force = false) {
    if (state === "connected" && this.state !== "connected") this.touch();
    if (state === this.state && !problem && !force) return;
    this.state = state;
    this.history.push(state);
    if (this.history.length > 50) this.history.shift();
    this.dispatchEvent(new CustomEvent("state", { detail: { state, problem, mode: this.mode } }));
  }

  /** Voice: the microphone streams into the session (a text session open now turns into voice). */
  async start() {
    if (this.wanted && this.mode === "audio") return;
    if (this.wanted) {
      this.mode = "audio";
      // Connecting: the session opens as voice. Open: the same session (the model keeps what
      // was typed) gains audio and the microphone.
      if (this.socket && this.socket.readyState === OPEN && this.session) await this.startAudio(this.socket);
      return;
    }
    this.mode = "audio";
    this.wanted = true;
    this.attempt = 0;
    await this.connect();
  }

  /**
   * Typed text for the model, as a user message in the session: the voice session when one is
   * open, else a session opened in text modality without the microphone. Resolves once the
   * service has the message (conversation.item.created); rejects (the text was not taken) when
   * the session cannot be opened, closes first, refuses the item or does not confirm it.
   * @param {string} text
   * @param {{customer?: object, symptoms?: string[]}|null} fields the form's
   */
  sendText(text, fields = null) {
    const queued = new Promise((resolve, reject) => this.outbox.push({ text, fields, resolve, reject }));
    if (!this.wanted) {
      this.mode = "text";
      this.wanted = true;
      this.attempt = 0;
      this.connect().catch((error) => this.fail(error));
    } else {
      this.drainOutbox();
    }
    this.touch();
    return queued;
  }

  /** Whether the session is open (connected, or renewing on the open socket). */
  ready() {
    return Boolean(this.socket && this.socket.readyState === OPEN && (this.state === "connected" || this.state === "renewing"));
  }

  /**
   * A follow-up from the agent network for the caller: a new system message in the open
   * session, then a response so the model says it. Returns false (nothing sent) when no session
   * is open: the page shows it, and the history keeps it.
   * @param {string} text
   */
  speakFollowUp(text) {
    if (!this.ready()) return false;
    this.send({
      type: "conversation.item.create",
      item: { type: "message", role: "system", content: [{ type: "input_text", text: followUpMessage(text) }] },
    });
    this.requestResponse();
    this.touch();
    return true;
  }

  /** Send the typed texts once the session is open. */
  drainOutbox() {
    if (!this.ready()) return;
    for (const { text, fields, resolve, reject } of this.outbox.splice(0)) {
      this.typedFields = fields;
      this.lastInput = "text";
      const itemId = newId("typed_");
      const entry = { itemId, eventId: `evt_${itemId}`, resolve, reject, timer: null };
      entry.timer = setTimeout(() => {
        this.settleTyped(entry, new Error("The voice service did not take the text in time."), "service");
      }, CONFIRM_MS);
      this.unconfirmed.push(entry);
      this.send({
        type: "conversation.item.create",
        event_id: entry.eventId,
        item: { id: itemId, type: "message", role: "user", content: [{ type: "input_text", text: typedMessage(text, fields) }] },
      });
      this.requestResponse();
    }
  }

  /** Resolve a typed text the service took, or reject it (`error`, in a problem `category`). */
  settleTyped(entry, error = null, category = "service") {
    const index = this.unconfirmed.indexOf(entry);
    if (index < 0) return;
    this.unconfirmed.splice(index, 1);
    clearTimeout(entry.timer);
    if (error) entry.reject(Object.assign(error, { category: error.category || category }));
    else entry.resolve();
  }

  /** conversation.item.created for a typed message: by our item id, else the oldest sent. */
  confirmTyped(item) {
    if (item?.type !== "message" || item.role !== "user" || !this.unconfirmed.length) return;
    const entry = this.unconfirmed.find((sent) => sent.itemId === item.id) || this.unconfirmed[0];
    this.settleTyped(entry);
  }

  /** Typed texts not taken by the service: the page gives them back to the person. */
  rejectOutbox(error) {
    for (const entry of [...this.unconfirmed]) this.settleTyped(entry, new Error(error.message), error.category);
    for (const { reject } of this.outbox.splice(0)) reject(error);
  }

  /** response.create now, or once the active response is done (one at a time). */
  requestResponse() {
    if (this.activeResponse || this.requested) {
      this.createAfterActive = true;
      return;
    }
    this.requested = true;
    this.send({ type: "response.create" });
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
    this.session = session;
    socket.onopen = async () => {
      if (this.socket !== socket) return;
      if (this.mode === "audio") {
        await this.startAudio(socket);
      } else {
        this.send(sessionFor(session, "text"));
        this.setState("connected", null, true);
      }
      if (this.socket !== socket || this.state !== "connected") return;
      this.attempt = 0;
      this.planRenewal(credential.expiresAt);
      this.drainOutbox();
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

  /** The voice session on `socket`, then the microphone (it outlives a reconnect). */
  async startAudio(socket) {
    this.send(this.session);
    try {
      // The microphone's chunks go to whichever socket is open.
      await this.audio.start((chunk) => {
        this.send({ type: "input_audio_buffer.append", audio: base64FromBytes(chunk) });
      });
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.socket !== socket) return;
    this.setState("connected", null, true);
  }

  /** Report the problem; reconnect when trying again may help, else stop in the error state. */
  fail(error) {
    if (!this.wanted) return;
    const problem = voiceProblem(error);
    this.rejectOutbox(Object.assign(new Error(problem.message), { category: problem.category, cause: error }));
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
    return (
      this.calls.size === 0 && this.activeResponse === null && !this.createAfterActive && !this.requested && !this.unconfirmed.length
    );
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
    this.open(fresh); // in the same mode: text sessions stay without the microphone
  }

  send(event) {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(event));
  }

  /** Something happened in the session (speech, typed text, a call, an answer): the idle clock starts again. */
  touch() {
    clearTimeout(this.idleTimer);
    if (this.idleMs > 0 && this.wanted) this.idleTimer = setTimeout(() => this.endIfIdle(), this.idleMs);
  }

  /** End a session nobody uses; one still waiting for a tool call or a response is given more time. */
  endIfIdle() {
    if (!this.wanted) return;
    if (!this.idle()) {
      this.touch();
      return;
    }
    const minutes = Math.round((this.idleMs / 60_000) * 10) / 10;
    this.shutDown("idle", {
      category: "idle",
      message: `Voice ended after ${minutes} minute${minutes === 1 ? "" : "s"} without speech. Start voice to resume.`,
      retry: false,
    });
  }

  handle(event, epoch) {
    switch (event.type) {
      case "error": {
        this.requested = false; // a refused response.create: no response is coming
        const problem = serviceProblem(event.error);
        const typed = this.unconfirmed.find((sent) => sent.eventId === event.error?.event_id);
        if (typed) this.settleTyped(typed, new Error(problem.message), problem.category);
        this.hooks.onProblem?.(problem);
        break;
      }
      case "conversation.item.created":
        this.confirmTyped(event.item);
        break;
      case "input_audio_buffer.speech_started":
        this.touch();
        this.audio.flush(); // the person talks over the assistant: stop playing at once
        this.lastInput = "speech";
        this.typedFields = null;
        break;
      case "response.created":
        this.requested = false;
        this.activeResponse = event.response?.id || null;
        if (this.activeResponse && !this.responses.has(this.activeResponse)) {
          this.responses.set(this.activeResponse, { done: false, callIds: [] });
        }
        break;
      case "response.audio.delta":
        if (event.delta) this.audio.play(event.delta);
        break;
      case "response.text.delta":
      case "response.output_text.delta": {
        const key = replyKey(event);
        const text = (this.replies.get(key) || "") + (event.delta || "");
        this.replies.set(key, text);
        this.hooks.onReplyText?.(key, text, false);
        break;
      }
      case "response.text.done":
      case "response.output_text.done": {
        const key = replyKey(event);
        const text = typeof event.text === "string" ? event.text : this.replies.get(key) || "";
        this.replies.delete(key);
        this.hooks.onReplyText?.(key, text, true);
        break;
      }
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
        this.touch();
        const id = event.response?.id;
        if (!id || this.activeResponse === id) this.activeResponse = null;
        const response = id && this.responses.get(id);
        if (response) response.done = true;
        if (this.createAfterActive && !this.activeResponse) {
          this.createAfterActive = false;
          this.requested = true;
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
    const call = { callId, responseId, output: null, sent: false, epoch, started: Date.now(), outcome: null };
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
    const fields = argumentFields(this.session);
    let body = messageBody(args && typeof args === "object" ? args : {}, callId, this.conversationId(), fields);
    if (this.lastInput === "text") body = withTypedFields(body, this.typedFields);
    this.hooks.onCall?.({ callId, body, input: this.lastInput });
    this.delegations
      .run(body, { onAccepted: (data, status) => this.hooks.onAccepted?.(callId, data, status) })
      .then((result) => {
        if (!this.isLive(call)) {
          this.hooks.onLate?.(callId, result); // shown in the timeline, never sent to the new socket
          this.measured(call, "late");
          return;
        }
        this.hooks.onAnswer?.(callId, result);
        this.answer(call, { status: "completed", answer: result.answer, agents: result.agents, partial: result.partial });
      })
      .catch((error) => {
        if (!this.isLive(call)) {
          this.hooks.onLate?.(callId, null);
          this.measured(call, "late");
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
    call.outcome = output.status === "completed" ? "answered" : "failed";
    this.flush();
  }

  /** The call's latency, from the model's tool call to its answer handed back (or dropped as late). */
  measured(call, outcome) {
    this.hooks.onLatency?.({ callId: call.callId, latencyMs: Math.max(0, Math.round(Date.now() - call.started)), outcome });
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
          this.measured(call, call.outcome);
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
    if (create) this.requestResponse();
  }

  /** Close the socket and the microphone and settle in `state` (off, or error with the problem). */
  async shutDown(state, problem = null) {
    this.wanted = false;
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.renewTimer);
    this.renewDue = false;
    const socket = this.socket;
    this.socket = null;
    this.resetSession();
    this.rejectOutbox(Object.assign(new Error(problem?.message || "The voice session was stopped."), { category: problem?.category || "ended" }));
    if (socket) socket.close(1000, "stopped");
    const mode = this.mode;
    this.mode = "audio";
    this.setState(state, problem);
    if (mode === "audio") await this.audio.stop();
  }

  /** The person stopped voice. */
  async stop() {
    await this.shutDown("off");
  }
}

/** Where a text part of a response streams to: one timeline line per (response, item, part). */
function replyKey(event) {
  return `${event.response_id || ""}:${event.item_id || ""}:${event.content_index ?? 0}`;
}
