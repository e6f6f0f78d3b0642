// One delegation = one POST /api/messages (a text question or a voice tool call).
// 200: the answer. 202: an interim sentence now, the answer later from the `message` event with
// the same callId, or from polling the statusUrl while live events are down. Answers are always
// matched to their call by callId. After live events reconnect (events may have been missed
// meanwhile) every pending call is polled at once; each poll's progress (the agents' states) is
// dispatched as a "progress" event so the page can show what it missed.

import { ApiError } from "./api.js";

const TICK_MS = 1000;
const POLL_WHEN_EVENTS_DOWN_MS = 2000;
const POLL_WHEN_EVENTS_UP_MS = 15_000; // a safety net should one event be lost
const EARLY_LIMIT = 200;

export class Delegations extends EventTarget {
  /**
   * @param {{request: Function}} api
   * @param {EventTarget & {state: string}} events the LiveEvents (its state decides how often to poll; "recovered" polls at once)
   */
  constructor(api, events) {
    super();
    this.api = api;
    this.events = events;
    events.addEventListener("recovered", () => this.tick(true));
    this.pending = new Map(); // callId -> {resolve, reject, statusUrl, lastPoll}
    this.early = new Map(); // callId -> answer that arrived before its 202 did
    this.timer = null;
  }

  /**
   * Post the request and resolve with the final answer.
   * @param {object} body the POST /api/messages body; body.callId is required here
   * @param {{onAccepted?: (data: object, status: number) => void}} hooks
   * @returns {Promise<{answer: string, agents: string[], partial: boolean, instanceId: string}>}
   */
  async run(body, hooks = {}) {
    const { status, data } = await this.api.request("/api/messages", { method: "POST", body });
    hooks.onAccepted?.(data, status);
    if (status === 200) return answerOf(data, data.instanceId);
    return this.wait(body.callId, data);
  }

  wait(callId, accepted) {
    const early = this.early.get(callId);
    if (early) {
      this.early.delete(callId);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(callId, {
        resolve,
        reject,
        instanceId: accepted.instanceId,
        statusUrl: accepted.statusUrl || `/api/messages/${encodeURIComponent(accepted.instanceId)}`,
        lastPoll: Date.now(),
        polling: false,
      });
      if (!this.timer) this.timer = setInterval(() => this.tick(), TICK_MS);
    });
  }

  /** A live event: a `message` answers the call with the same callId. */
  onEvent(event) {
    // A follow-up comes after its call was answered: it answers nothing (main.js shows it).
    if (event.type !== "message" || !event.callId || event.data?.followUp) return;
    const answer = answerOf({ answer: event.data.text, agents: event.data.agents, partial: event.data.partial }, event.instanceId);
    this.settle(event.callId, answer);
  }

  settle(callId, answer, error = null) {
    const pending = this.pending.get(callId);
    if (!pending) {
      if (!error) {
        this.early.set(callId, answer);
        if (this.early.size > EARLY_LIMIT) this.early.delete(this.early.keys().next().value);
      }
      return;
    }
    this.pending.delete(callId);
    if (error) pending.reject(error);
    else pending.resolve(answer);
    if (!this.pending.size) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Poll the calls that are due (every one when `all`); never while the browser is offline. */
  tick(all = false) {
    if (globalThis.navigator?.onLine === false) return;
    const every = this.events.state === "connected" ? POLL_WHEN_EVENTS_UP_MS : POLL_WHEN_EVENTS_DOWN_MS;
    for (const [callId, pending] of this.pending) {
      if (pending.polling || (!all && Date.now() - pending.lastPoll < every)) continue;
      pending.polling = true;
      this.poll(callId, pending).finally(() => {
        pending.polling = false;
        pending.lastPoll = Date.now();
      });
    }
  }

  async poll(callId, pending) {
    let data;
    try {
      ({ data } = await this.api.request(pending.statusUrl));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.settle(callId, null, error);
      return; // anything else: try again at the next tick
    }
    if (data.progress && typeof data.progress === "object") {
      const detail = { callId, instanceId: data.instanceId || pending.instanceId, progress: data.progress };
      this.dispatchEvent(new CustomEvent("progress", { detail }));
    }
    if (data.status === "running") return;
    if (data.status === "completed") {
      this.settle(callId, answerOf(data, data.instanceId));
    } else {
      this.settle(callId, null, new ApiError(500, "internal", `The delegation ended as ${data.status}.`, true));
    }
  }
}

function answerOf(data, instanceId) {
  return {
    answer: data.answer || "",
    agents: Array.isArray(data.agents) ? data.agents : [],
    partial: Boolean(data.partial),
    instanceId: instanceId || data.instanceId,
  };
}
