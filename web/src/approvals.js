// Supervisor approvals: an agent's question for a person, from approval.requested events (the ops
// group) and those already pending from GET /api/approvals (load). The supervisor approves or
// rejects (POST /api/approvals/{instanceId} {approve, note?}) or replies in words ({reply}),
// which goes back to the agent's task; approval.resolved closes the request.

import { displayName } from "./agents.js";
import { asApiError } from "./api.js";
import { el, when } from "./dom.js";

const OUTCOME_TEXT = { approved: "Approved", rejected: "Rejected", replied: "Replied", "timed-out": "Timed out" };
const MAX_REPLY_CHARS = 2000; // api: voicea2a/bodies.py MAX_REPLY_CHARS

export class Approvals {
  /**
   * @param {{request: Function}} api
   * @param {{panel: HTMLElement, list: HTMLElement, empty: HTMLElement}} view
   * @param {(error: Error) => void} showError
   */
  constructor(api, view, showError) {
    this.api = api;
    this.view = view;
    this.showError = showError;
    this.items = new Map(); // instanceId -> {node, state}
  }

  enable(on) {
    this.view.panel.hidden = !on;
  }

  /** Show the approvals already pending (GET /api/approvals), e.g. when the page opens late. */
  async load() {
    try {
      const { data } = await this.api.request("/api/approvals");
      for (const item of (data && data.approvals) || []) {
        // requested() skips an instance already shown from a live event.
        this.requested({
          instanceId: item.instanceId,
          agent: item.agent,
          data: { reason: item.reason, customerId: item.customerId, expiresAt: item.expiresAt },
        });
      }
    } catch (error) {
      this.showError(asApiError(error));
    }
  }

  onEvent(event) {
    if (event.type === "approval.requested") this.requested(event);
    else if (event.type === "approval.resolved") this.resolved(event);
  }

  requested(event) {
    const id = event.instanceId;
    if (!id || this.items.has(id)) return;
    const note = el("input", { id: `note-${id}`, maxLength: 500, autocomplete: "off" });
    const reply = el("textarea", { id: `reply-${id}`, className: "approval-reply", maxLength: MAX_REPLY_CHARS, rows: 2 });
    const message = el("p", { className: "approval-message", role: "status" });
    const approve = el("button", { type: "button", className: "approve", onclick: () => this.decide(id, { approve: true }) }, "Approve");
    const reject = el("button", { type: "button", className: "danger reject", onclick: () => this.decide(id, { approve: false }) }, "Reject");
    const send = el("button", { type: "button", className: "send-reply", onclick: () => this.decide(id, { reply: true }) }, "Send reply");
    const data = event.data || {};
    const asker = event.agent ? `${displayName(event.agent)} asks: ` : "Approval requested: ";
    const node = el(
      "li",
      { className: "approval", dataset: { instanceId: id, state: "pending", agent: event.agent || "" }, "aria-label": "Request for a supervisor" },
      el("p", { className: "approval-reason" }, el("strong", {}, asker), data.reason || "Approval needed."),
      data.customerId ? el("p", {}, `Customer: ${data.customerId}`) : null,
      data.expiresAt ? el("p", { className: "note" }, `Answer before ${when(data.expiresAt)}`) : null,
      el("label", { for: `note-${id}` }, "Note with a decision (optional)"),
      note,
      el("div", { className: "row" }, approve, reject),
      el("label", { for: `reply-${id}` }, `Or reply in words (up to ${MAX_REPLY_CHARS} characters)`),
      reply,
      el("div", { className: "row" }, send),
      message,
    );
    this.items.set(id, { node, approve, reject, send, note, reply, message });
    this.view.list.prepend(node);
    this.view.empty.hidden = true;
  }

  resolved(event) {
    const item = this.items.get(event.instanceId);
    if (!item) return;
    const data = event.data || {};
    item.node.dataset.state = "resolved";
    item.node.dataset.outcome = data.outcome || "";
    this.lock(item, true);
    item.note.disabled = item.reply.disabled = true;
    const by = data.by ? ` by ${data.by}` : "";
    item.message.textContent = `${OUTCOME_TEXT[data.outcome] || data.outcome}${by}.`;
  }

  /** Disable (or enable again) the buttons that answer. */
  lock(item, locked) {
    item.approve.disabled = item.reject.disabled = item.send.disabled = locked;
  }

  /** Send a decision ({approve}) or the reply typed ({reply: true}). */
  async decide(instanceId, { approve, reply = false }) {
    const item = this.items.get(instanceId);
    if (!item || item.node.dataset.state !== "pending") return;
    const text = item.reply.value.trim();
    if (reply && !text) {
      item.message.textContent = "Type a reply first.";
      item.reply.focus();
      return;
    }
    this.lock(item, true);
    const body = reply ? { reply: text } : { approve };
    if (!reply && item.note.value.trim()) body.note = item.note.value.trim();
    item.message.textContent = reply ? "Sending the reply…" : approve ? "Approving…" : "Rejecting…";
    try {
      await this.api.request(`/api/approvals/${encodeURIComponent(instanceId)}`, { method: "POST", body });
      // The approval.resolved event may have come first: it has the last word.
      if (item.node.dataset.state === "pending") {
        item.node.dataset.state = "sent";
        item.message.textContent = reply ? "Reply sent." : approve ? "Approval sent." : "Rejection sent.";
      }
    } catch (error) {
      const problem = asApiError(error);
      this.lock(item, false);
      item.message.textContent = `${problem.message} ${problem.hint}`.trim();
      this.showError(problem);
    }
  }
}
