// The conversation timeline: one entry per turn (the request, each agent's progress and result,
// the answer, then any follow-up once a supervisor answered an agent), plus what was said aloud
// in voice mode. A live region announces additions.

import { displayName } from "./agents.js";
import { el, clear } from "./dom.js";

const STATUS_TEXT = {
  started: "working",
  working: "working",
  retrying: "retrying",
  completed: "done",
  "input-required": "asked a question",
  "awaiting-person": "waiting for a supervisor",
  failed: "failed",
  "timed-out": "timed out",
};

/** The mark after an answer some agents could not help with. */
function partialMark() {
  return el("span", { className: "partial" }, " (partial: some agents could not answer)");
}

const WHO_ASKED = {
  voice: "Customer (voice tool call)",
  typed: "You (typed; the assistant's tool call)",
};

export class Timeline {
  /** @param {HTMLOListElement} list */
  constructor(list) {
    this.list = list;
    this.byCall = new Map();
    this.byInstance = new Map();
    this.replies = new Map(); // text part key -> its line, while the model's reply streams
    this.reset();
  }

  reset() {
    clear(this.list);
    this.byCall.clear();
    this.byInstance.clear();
    this.replies.clear();
    this.empty = el("li", { className: "timeline-empty" }, "No messages yet. Ask a question to start.");
    this.list.append(this.empty);
  }

  append(node) {
    if (this.empty) {
      this.empty.remove();
      this.empty = null;
    }
    this.list.append(node);
    this.list.scrollTop = this.list.scrollHeight;
  }

  /** @param {{callId?: string, instanceId?: string, request: string, details?: string, source?: string}} turn */
  startTurn({ callId, instanceId, request, details, source = "text" }) {
    const existing = (callId && this.byCall.get(callId)) || (instanceId && this.byInstance.get(instanceId));
    if (existing) return existing;
    const agents = el("ul", { className: "turn-agents", "aria-label": "Agents" });
    const answer = el(
      "div",
      { className: "bubble bubble-assistant" },
      el("span", { className: "who-said" }, "Assistant"),
      el("span", { className: "answer-text" }, "Working on it…"),
    );
    const node = el(
      "li",
      {
        className: "turn",
        dataset: { state: "pending", source, ...(callId ? { callId } : {}), ...(instanceId ? { instanceId } : {}) },
      },
      el(
        "div",
        { className: "bubble bubble-user" },
        el("span", { className: "who-said" }, WHO_ASKED[source] || "You"),
        el("span", { className: "request-text" }, request),
        details ? el("span", { className: "turn-details" }, ` — ${details}`) : null,
      ),
      agents,
      answer,
    );
    const turn = { node, agents, answer, callId, instanceId };
    if (callId) this.byCall.set(callId, turn);
    if (instanceId) this.byInstance.set(instanceId, turn);
    this.append(node);
    return turn;
  }

  find(callId, instanceId) {
    return (callId && this.byCall.get(callId)) || (instanceId && this.byInstance.get(instanceId)) || null;
  }

  setInstance(callId, instanceId) {
    const turn = this.byCall.get(callId);
    if (!turn || !instanceId) return;
    turn.instanceId = instanceId;
    turn.node.dataset.instanceId = instanceId;
    this.byInstance.set(instanceId, turn);
  }

  setInterim(callId, text) {
    const turn = this.byCall.get(callId);
    if (!turn || turn.node.dataset.state === "answered") return;
    turn.node.dataset.state = "interim";
    turn.answer.querySelector(".answer-text").textContent = text;
  }

  /** @param {{answer: string, partial?: boolean}} result */
  setAnswer(callId, result, instanceId) {
    const turn = this.find(callId, instanceId);
    if (!turn) return;
    turn.node.dataset.state = "answered";
    turn.answer.querySelector(".answer-text").textContent = result.answer;
    turn.answer.querySelector(".partial")?.remove();
    if (result.partial) turn.answer.append(partialMark());
  }

  /**
   * A follow-up on a turn already answered; shown once, whether it came live, from a poll or
   * from the history.
   * @param {{answer: string, partial?: boolean}} result
   */
  addFollowUp(callId, instanceId, result) {
    const turn = this.find(callId, instanceId);
    if (!turn) return;
    const shown = [...turn.node.querySelectorAll(".bubble-follow-up .answer-text")].map((node) => node.textContent);
    if (shown.includes(result.answer)) return;
    turn.node.append(
      el(
        "div",
        { className: "bubble bubble-assistant bubble-follow-up" },
        el("span", { className: "who-said" }, "Assistant, follow-up"),
        el("span", { className: "answer-text" }, result.answer),
        result.partial ? partialMark() : null,
      ),
    );
    this.list.scrollTop = this.list.scrollHeight;
  }

  setFailed(callId, message) {
    const turn = this.byCall.get(callId);
    if (!turn) return;
    turn.node.dataset.state = "failed";
    turn.answer.querySelector(".answer-text").textContent = message;
  }

  /** Live progress of one agent on this turn. */
  agentStatus(callId, instanceId, agent, status, text = "") {
    const turn = this.find(callId, instanceId);
    if (!turn || !agent) return;
    let line = turn.agents.querySelector(`li[data-agent="${CSS.escape(agent)}"]`);
    if (!line) {
      line = el(
        "li",
        { dataset: { agent } },
        el("span", { className: "agent-label", title: agent }, displayName(agent)),
        ": ",
        el("span", { className: "agent-status" }, ""),
        el("span", { className: "agent-result" }, ""),
      );
      turn.agents.append(line);
    }
    line.dataset.status = status;
    line.querySelector(".agent-status").textContent = STATUS_TEXT[status] || status;
    if (text) line.querySelector(".agent-result").textContent = ` — ${text}`;
  }

  /** The status the turn shows for `agent`, or null. */
  agentStatusOf(callId, instanceId, agent) {
    const line = this.find(callId, instanceId)?.agents.querySelector(`li[data-agent="${CSS.escape(agent)}"]`);
    return line ? line.dataset.status : null;
  }

  /** Whether the turn shows a note of this kind. */
  hasNote(callId, instanceId, kind) {
    return Boolean(this.find(callId, instanceId)?.node.querySelector(`.turn-note[data-kind='${kind}']`));
  }

  /** A note on a turn (approval pending, answer arrived after the voice session ended...). */
  note(callId, instanceId, text, kind = "info") {
    const turn = this.find(callId, instanceId);
    if (!turn) return;
    turn.node.querySelector(`.turn-note[data-kind='${kind}']`)?.remove();
    turn.node.append(el("p", { className: "turn-note", dataset: { kind } }, text));
  }

  /** What the person typed for the realtime model; the model decides what to ask the agents. */
  typedLine(text, details = "") {
    const node = el(
      "li",
      { className: "typed-line", dataset: { who: "user", state: "sending" } },
      el("span", { className: "who-said" }, "You wrote: "),
      el("span", { className: "typed-text" }, text),
      details ? el("span", { className: "turn-details" }, ` — ${details}`) : null,
    );
    this.append(node);
    return node;
  }

  /** The model's text reply as it streams: one line per text part, complete when `done`. */
  replyLine(key, text, done) {
    let node = this.replies.get(key);
    if (!node) {
      node = el(
        "li",
        { className: "voice-line reply-line", dataset: { who: "assistant", modality: "text", state: "streaming" }, "aria-busy": "true" },
        el("span", { className: "who-said" }, "Assistant: "),
        el("span", { className: "reply-text" }, ""),
      );
      this.replies.set(key, node);
      this.append(node);
    }
    node.querySelector(".reply-text").textContent = text;
    if (done) {
      node.dataset.state = "done";
      node.removeAttribute("aria-busy");
      this.replies.delete(key);
    }
  }

  /** Something said aloud in voice mode (transcripts). */
  voiceLine(who, text) {
    if (!text) return;
    this.append(el("li", { className: "voice-line", dataset: { who } }, `${who === "user" ? "Customer" : "Assistant"} said: ${text}`));
  }

  /**
   * Turns from GET /api/conversations/{id} messages (user, agent..., assistant per instance).
   * @param {Array<{id: string, role: string, text: string, instanceId?: string, agent?: string, status?: string, agents?: string[], partial?: boolean, followUp?: boolean}>} messages
   */
  addHistory(messages) {
    for (const message of messages) {
      const instanceId = message.instanceId || message.id;
      if (message.role === "user") {
        const turn = this.startTurn({ instanceId, request: message.text, source: "history" });
        if (turn.node.dataset.state === "pending") turn.answer.querySelector(".answer-text").textContent = "";
      } else if (message.role === "agent") {
        if (!this.byInstance.has(instanceId)) this.startTurn({ instanceId, request: "", source: "history" });
        this.agentStatus(null, instanceId, message.agent, message.status || "completed", message.text);
      } else if (message.role === "assistant") {
        if (!this.byInstance.has(instanceId)) this.startTurn({ instanceId, request: "", source: "history" });
        const result = { answer: message.text, partial: message.partial };
        if (message.followUp) this.addFollowUp(null, instanceId, result);
        else this.setAnswer(null, result, instanceId);
      }
    }
  }
}
