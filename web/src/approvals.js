// Supervisor approvals: approval.requested events (the ops group) with the reason, and those
// already pending from GET /api/approvals (load); approve or reject with
// POST /api/approvals/{instanceId} {approve, note?}; approval.resolved closes them.

import { asApiError } from "./api.js";
import { el, when } from "./dom.js";

const OUTCOME_TEXT = { approved: "Approved", rejected: "Rejected", "timed-out": "Timed out" };

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
    const message = el("p", { className: "approval-message", role: "status" });
    const approve = el("button", { type: "button", className: "approve", onclick: () => this.decide(id, true) }, "Approve");
    const reject = el("button", { type: "button", className: "danger reject", onclick: () => this.decide(id, false) }, "Reject");
    const data = event.data || {};
    const node = el(
      "li",
      { className: "approval", dataset: { instanceId: id, state: "pending" }, "aria-label": "Approval request" },
      el("p", { className: "approval-reason" }, el("strong", {}, "Approval requested: "), data.reason || "Approval needed."),
      data.customerId ? el("p", {}, `Customer: ${data.customerId}`) : null,
      data.expiresAt ? el("p", { className: "note" }, `Decide before ${when(data.expiresAt)}`) : null,
      el("label", { for: `note-${id}` }, "Note (optional)"),
      note,
      el("div", { className: "row" }, approve, reject),
      message,
    );
    this.items.set(id, { node, approve, reject, note, message });
    this.view.list.prepend(node);
    this.view.empty.hidden = true;
  }

  resolved(event) {
    const item = this.items.get(event.instanceId);
    if (!item) return;
    const data = event.data || {};
    item.node.dataset.state = "resolved";
    item.node.dataset.outcome = data.outcome || "";
    item.approve.disabled = item.reject.disabled = item.note.disabled = true;
    const by = data.by ? ` by ${data.by}` : "";
    item.message.textContent = `${OUTCOME_TEXT[data.outcome] || data.outcome}${by}.`;
  }

  async decide(instanceId, approve) {
    const item = this.items.get(instanceId);
    if (!item || item.node.dataset.state !== "pending") return;
    item.approve.disabled = item.reject.disabled = true;
    item.message.textContent = approve ? "Approving…" : "Rejecting…";
    const body = { approve };
    if (item.note.value.trim()) body.note = item.note.value.trim();
    try {
      await this.api.request(`/api/approvals/${encodeURIComponent(instanceId)}`, { method: "POST", body });
      // The approval.resolved event may have come first: it has the last word.
      if (item.node.dataset.state === "pending") {
        item.node.dataset.state = "sent";
        item.message.textContent = approve ? "Approval sent." : "Rejection sent.";
      }
    } catch (error) {
      const problem = asApiError(error);
      item.approve.disabled = item.reject.disabled = false;
      item.message.textContent = `${problem.message} ${problem.hint}`.trim();
      this.showError(problem);
    }
  }
}
