// The browser client: sign-in, the agent network, the conversation (text and voice), past
// conversations, live events and supervisor approvals. Plain ES modules, no framework; where the
// API is comes from config.json (web/src/apibase.js), the settings from GET /api/config.

import { AgentNetwork } from "./agents.js";
import { ApiError, apiUrl, asApiError, createApi } from "./api.js";
import { loadApiBase } from "./apibase.js";
import { Approvals } from "./approvals.js";
import { AudioIO } from "./audio.js";
import { Auth } from "./auth.js";
import { Delegations } from "./delegations.js";
import { $, clear, el, newId, when } from "./dom.js";
import { LiveEvents } from "./events.js";
import { NetworkGraph } from "./graph.js";
import { Timeline } from "./timeline.js";
import { VoiceBridge } from "./voice.js";

const CONVERSATION_KEY = "voicea2a.conversationId";
const STATE_TEXT = {
  disabled: "not configured",
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  offline: "offline",
  renewing: "renewing…",
  off: "off",
  error: "error",
  text: "text only",
};
// Without a playbook the page names no domain: a generic title and placeholder.
const GENERIC_TITLE = "Support Assistant";
const GENERIC_PLACEHOLDER = "Describe what you need.";
// The identity fields' element ids (stable: tests and the keyboard path use them).
const IDENTITY_IDS = { firstName: "ask-first-name", lastName: "ask-last-name", postalCode: "ask-postal-code", dateOfBirth: "ask-dob" };
const APPROVAL_NOTE = "Waiting for a supervisor: the answer follows when they reply.";
const RESOLVED_NOTE = {
  approved: "A supervisor approved.",
  rejected: "A supervisor rejected it.",
  replied: "A supervisor replied.",
  "timed-out": "No supervisor answered in time.",
};

// ----- errors -----

function showError(error) {
  const problem = asApiError(error);
  const banner = $("error");
  banner.querySelector(".error-code").textContent = problem.code ? `${problem.code}:` : "";
  banner.querySelector(".error-message").textContent = problem.message;
  banner.querySelector(".error-hint").textContent = problem.hint;
  banner.dataset.code = problem.code || "";
  banner.hidden = false;
}

// An agent's state in a delegation's progress -> its agent.status (web/src/agents.js).
const PROGRESS_STATUS = { working: "started" };

const VOICE_NOTE = {
  connecting: "Connecting to the voice service…",
  connected: "Listening: speak now.",
  renewing: "Renewing the voice connection…",
  reconnecting: "Voice connection lost; reconnecting…",
  error: "Voice is unavailable; use text.",
  off: "",
  text: "Typed text goes to the assistant. Start voice to talk.",
};

/** The voice bridge's problem (microphone, signed out, network, …) next to the voice controls. */
function showVoiceProblem({ category, message }) {
  const note = $("voice-note");
  note.dataset.category = category;
  note.textContent = message;
}

/** An id made of [A-Za-z0-9_-] from a playbook field name. */
function idPart(name) {
  return String(name).replace(/[^A-Za-z0-9_-]/g, "-");
}

/** A text or date input, or a choice, for a playbook field ({name, label, type, maxLength, values?}). */
function fieldInput(field, id, group, describedBy = null) {
  const values = Array.isArray(field.values) ? field.values.filter((value) => typeof value === "string" && value) : [];
  if (values.length) {
    return el(
      "select",
      { id, name: field.name, "aria-describedby": describedBy || undefined, dataset: { group } },
      el("option", { value: "" }, "(not given)"),
      ...values.map((value) => el("option", { value }, value)),
    );
  }
  const date = field.type === "date";
  return el("input", {
    id,
    name: field.name,
    type: date ? "date" : "text",
    autocomplete: "off",
    maxLength: !date && Number.isInteger(field.maxLength) && field.maxLength > 0 ? field.maxLength : undefined,
    "aria-describedby": describedBy || undefined,
    dataset: { group },
  });
}

/**
 * The filled fields of the form as the body carries them (empty ones left out): `customer`,
 * `symptoms`, and each of the playbook's details as a field of its own.
 */
function formFields(form) {
  const fields = {};
  const customer = {};
  for (const input of form.querySelectorAll("[data-group=customer]")) {
    const value = input.value.trim();
    if (value) customer[input.name] = value;
  }
  if (Object.keys(customer).length) fields.customer = customer;
  const symptoms = [...form.querySelectorAll("input[name=symptoms]:checked")].map((input) => input.value);
  if (symptoms.length) fields.symptoms = symptoms;
  for (const input of form.querySelectorAll("[data-group=details]")) {
    const value = input.value.trim();
    if (value) fields[input.name] = value;
  }
  return fields;
}

/** A short line for the timeline: who, symptoms, details. */
function summary({ customer, symptoms, ...details }) {
  const name = customer ? `${customer.firstName || ""} ${customer.lastName || ""}`.trim() : "";
  const detailText = Object.entries(details).map(([key, value]) => `${key}: ${value}`).join(", ");
  return [name, symptoms ? symptoms.join(", ") : "", detailText].filter(Boolean).join("; ");
}

function hideError() {
  $("error").hidden = true;
}

function setPill(id, state) {
  const pill = $(id);
  pill.dataset.state = state;
  pill.dataset.history = `${pill.dataset.history || ""} ${state}`.trim().split(" ").slice(-30).join(" ");
  pill.querySelector(".pill-value").textContent = STATE_TEXT[state] || state;
}

// ----- the application -----

class App {
  constructor(config, apiBase) {
    this.config = config;
    const title = config.playbook?.title || GENERIC_TITLE;
    document.title = title;
    $("app-title").textContent = title;
    this.auth = new Auth(config.signIn, apiBase);
    this.api = createApi(
      {
        getToken: () => this.auth.getToken(),
        onUnauthorized: () => this.auth.onUnauthorized(),
      },
      apiBase,
    );
    this.me = null;
    this.events = new LiveEvents(this.api);
    this.delegations = new Delegations(this.api, this.events);
    this.agents = new AgentNetwork($("agents"), $("agents-summary"));
    // The graph follows this page's calls only, as the list does (`lit`).
    this.graph = new NetworkGraph($("agent-graph"), $("agent-graph-status"), { follows: (event) => this.lit.has(event.callId) });
    this.timeline = new Timeline($("timeline"));
    this.approvals = new Approvals(
      this.api,
      { panel: $("approvals-panel"), list: $("approvals"), empty: $("approvals-empty") },
      showError,
    );
    this.voice = null;
    this.running = new Set(); // calls of this page still waiting for their answer
    this.lit = new Set(); // calls whose agent.status events light the agent network
    this.conversationCursor = null;
    this.conversationId = sessionStorage.getItem(CONVERSATION_KEY);
    this.refreshTimer = null;
  }

  async boot() {
    $("error").querySelector(".error-dismiss").addEventListener("click", hideError);
    this.auth.addEventListener("error", (event) => showError(event.detail));
    let restored = false;
    try {
      restored = await this.auth.restore();
    } catch (error) {
      showError(error);
    }
    $("loading").hidden = true;
    if (restored) await this.enter();
    else this.showSignIn();
  }

  showSignIn() {
    const { dev, entra } = this.config.signIn;
    $("signin").hidden = false;
    $("dev-signin").hidden = !dev;
    $("entra-signin").hidden = !entra;
    $("signin-unavailable").hidden = Boolean(dev || entra);
    $("dev-signin").onsubmit = async (event) => {
      event.preventDefault();
      const form = event.currentTarget;
      const user = form.elements.user.value.trim();
      const role = form.elements.role.value;
      const button = $("dev-signin-submit");
      button.disabled = true;
      try {
        await this.auth.devSignIn(user, [role]);
        hideError();
        $("signin").hidden = true;
        await this.enter();
      } catch (error) {
        showError(error);
      } finally {
        button.disabled = false;
      }
    };
    $("entra-signin-button").onclick = () => this.auth.entraSignIn().catch(showError);
    (dev ? $("dev-user") : $("entra-signin-button")).focus();
  }

  async enter() {
    try {
      this.me = (await this.api.request("/api/auth/me")).data;
    } catch (error) {
      showError(error);
      await this.auth.signOut();
      this.showSignIn();
      return;
    }
    const supervisor = this.me.roles.includes("supervisor");
    document.body.dataset.role = supervisor ? "supervisor" : "user";
    $("who").textContent = `${this.me.name || this.me.userId} (${this.me.roles.join(", ")})`;
    $("who").hidden = false;
    $("sign-out").hidden = false;
    $("sign-out").onclick = () => this.signOut();
    $("app").hidden = false;
    this.approvals.enable(supervisor);
    this.agents.manage = supervisor ? { admit: (name) => this.admitAgent(name), remove: (name) => this.removeAgent(name) } : null;
    this.setUpAskForm();
    this.setUpConversations();
    this.setUpEvents();
    this.setUpVoice();
    const loads = [this.loadAgents(), this.loadConversations(), this.restoreConversation()];
    // Approvals requested before this page opened are listed; later ones arrive as events.
    if (supervisor) loads.push(this.approvals.load());
    await Promise.all(loads);
  }

  async signOut() {
    this.events.stop();
    if (this.voice) await this.voice.stop();
    sessionStorage.removeItem(CONVERSATION_KEY);
    await this.auth.signOut();
    location.reload();
  }

  // ----- live events -----

  setUpEvents() {
    this.events.addEventListener("state", (event) => {
      setPill("events-state", event.detail.state);
      if (event.detail.state === "offline" && event.detail.error) showError(event.detail.error);
    });
    this.events.addEventListener("event", (event) => this.onLiveEvent(event.detail));
    // After a gap in live events: what the running turns' polls report stands in for the events
    // missed (Delegations polls them on "recovered"), and pending approvals are listed again.
    this.delegations.addEventListener("progress", (event) => this.onProgress(event.detail));
    this.events.addEventListener("recovered", () => {
      if (this.me.roles.includes("supervisor")) this.approvals.load();
    });
    if (this.config.events.enabled) this.events.start();
    else this.events.disable();
  }

  onLiveEvent(event) {
    this.graph.onEvent(event);
    switch (event.type) {
      case "registry.updated":
        // The event lists admitted agents; a supervisor's list also holds the pending ones.
        if (this.agents.manage) this.loadAgents();
        else {
          this.agents.setAgents(event.data.agents || []);
          this.graph.setAgents(event.data.agents || []);
        }
        break;
      case "agent.status":
        if (event.callId && this.lit.has(event.callId)) this.agents.setStatus(event.agent, event.data.status);
        this.timeline.agentStatus(event.callId, event.instanceId, event.agent, event.data.status);
        break;
      case "message":
        if (event.data.followUp) this.onFollowUp(event);
        else this.delegations.onEvent(event);
        break;
      case "approval.requested":
        this.approvals.onEvent(event);
        this.timeline.note(event.callId, event.instanceId, APPROVAL_NOTE, "approval");
        break;
      case "approval.resolved":
        this.approvals.onEvent(event);
        this.timeline.note(event.callId, event.instanceId, RESOLVED_NOTE[event.data.outcome] || "A supervisor answered.", "approval");
        break;
      case "conversation.created":
        this.refreshConversationsSoon();
        break;
      default:
        break;
    }
  }

  /**
   * What an agent said once a supervisor had answered it: shown on its turn, and told to the
   * caller in the open voice session. One for a conversation not on screen is in its history.
   */
  onFollowUp(event) {
    if (event.conversationId !== this.conversationId) {
      this.refreshConversationsSoon();
      return;
    }
    this.timeline.addFollowUp(event.callId, event.instanceId, { answer: event.data.text, partial: event.data.partial });
    if (this.voice && this.voice.mode === "audio") this.voice.speakFollowUp(event.data.text);
  }

  // ----- agents -----

  async loadAgents() {
    try {
      const { data } = await this.api.request("/api/agents");
      this.agents.setAgents(data.agents);
      this.graph.setAgents(data.agents);
    } catch (error) {
      showError(error);
    }
  }

  async admitAgent(name) {
    try {
      await this.api.request(`/api/agents/${encodeURIComponent(name)}/admit`, { method: "POST" });
    } catch (error) {
      showError(error);
    }
    await this.loadAgents();
  }

  async removeAgent(name) {
    try {
      await this.api.request(`/api/agents/${encodeURIComponent(name)}`, { method: "DELETE" });
    } catch (error) {
      showError(error);
    }
    await this.loadAgents();
  }

  // ----- conversations -----

  currentConversation() {
    if (!this.conversationId) {
      this.conversationId = newId("c");
      sessionStorage.setItem(CONVERSATION_KEY, this.conversationId);
    }
    return this.conversationId;
  }

  setUpConversations() {
    $("new-conversation").onclick = () => {
      // A text-only session holds the old conversation's context: the next text opens a new one.
      if (this.voice?.mode === "text" && this.voice.state !== "off") this.voice.stop();
      this.conversationId = null;
      sessionStorage.removeItem(CONVERSATION_KEY);
      this.timeline.reset();
      $("conversation-title").textContent = "";
      this.markCurrent();
      $("ask-request").focus();
    };
    $("conversations-more").onclick = () => this.loadConversations(this.conversationCursor);
  }

  async loadConversations(cursor = null) {
    let data;
    try {
      const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
      ({ data } = await this.api.request(`/api/conversations${query}`));
    } catch (error) {
      showError(error);
      return;
    }
    const list = $("conversations");
    if (!cursor) clear(list);
    for (const item of data.conversations) {
      list.append(
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              className: "secondary",
              dataset: { conversationId: item.conversationId },
              onclick: () => this.openConversation(item.conversationId),
            },
            el("span", { className: "title" }, item.title || "(untitled)"),
            el("span", { className: "when" }, when(item.updatedAt || item.createdAt)),
          ),
        ),
      );
    }
    if (!list.children.length) list.append(el("li", { className: "note" }, "No conversations yet."));
    this.conversationCursor = data.nextCursor || null;
    $("conversations-more").hidden = !this.conversationCursor;
    this.markCurrent();
  }

  refreshConversationsSoon() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.loadConversations(), 300);
  }

  markCurrent() {
    for (const button of $("conversations").querySelectorAll("button[data-conversation-id]")) {
      button.setAttribute("aria-current", String(button.dataset.conversationId === this.conversationId));
    }
  }

  /** Every message of a conversation (all pages), or null when it is not there. */
  async fetchMessages(conversationId) {
    const messages = [];
    let cursor = null;
    let conversation = null;
    for (let page = 0; page < 20; page += 1) {
      const query = `?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const { data } = await this.api.request(`/api/conversations/${encodeURIComponent(conversationId)}${query}`);
      conversation = data.conversation;
      messages.push(...data.messages);
      cursor = data.nextCursor;
      if (!cursor) break;
    }
    return { conversation, messages };
  }

  async openConversation(conversationId) {
    try {
      const { conversation, messages } = await this.fetchMessages(conversationId);
      this.conversationId = conversationId;
      sessionStorage.setItem(CONVERSATION_KEY, conversationId);
      this.timeline.reset();
      this.timeline.addHistory(messages);
      $("conversation-title").textContent = conversation?.title ? `“${conversation.title}”` : "";
      this.markCurrent();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        this.conversationId = null;
        sessionStorage.removeItem(CONVERSATION_KEY);
        return;
      }
      showError(error);
    }
  }

  async restoreConversation() {
    if (this.conversationId) await this.openConversation(this.conversationId);
  }

  /** Each agent's stored result for a finished turn (history is written with the answer). */
  async showAgentResults(callId, instanceId) {
    if (!instanceId || !this.conversationId) return;
    const conversationId = this.conversationId;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      try {
        const { messages } = await this.fetchMessages(conversationId);
        const mine = messages.filter((m) => m.instanceId === instanceId && m.role === "agent");
        if (mine.length || messages.some((m) => m.instanceId === instanceId && m.role === "assistant")) {
          for (const m of mine) this.timeline.agentStatus(callId, instanceId, m.agent, m.status || "completed", m.text);
          return;
        }
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
    }
  }

  /** A running turn's status, polled: its agents' states and whether it waits for approval. */
  onProgress({ callId, instanceId, progress }) {
    for (const [agent, state] of Object.entries(progress.agents || {})) {
      // A poll may be older than the live events already shown: it never undoes an ending.
      const shown = this.timeline.agentStatusOf(callId, instanceId, agent);
      if (state === "working" && shown && shown !== "started") continue;
      const status = PROGRESS_STATUS[state] || state;
      if (this.lit.has(callId)) this.agents.setStatus(agent, status);
      this.timeline.agentStatus(callId, instanceId, agent, state === "working" ? "started" : state);
    }
    if (progress.stage === "awaiting-approval" && !this.timeline.hasNote(callId, instanceId, "approval")) {
      this.timeline.note(callId, instanceId, APPROVAL_NOTE, "approval");
    }
  }

  // ----- a turn (text question or voice tool call) -----

  beginTurn(callId, request, details, source) {
    if (!this.running.size) {
      this.lit.clear();
      this.agents.resetActivity();
    }
    this.running.add(callId);
    this.lit.add(callId);
    this.timeline.startTurn({ callId, request, details, source });
  }

  accepted(callId, data, status) {
    this.timeline.setInstance(callId, data.instanceId);
    if (status === 202) this.timeline.setInterim(callId, data.interim || "Still working on it…");
    if (data.conversationId && data.conversationId === this.conversationId) this.refreshConversationsSoon();
  }

  finishTurn(callId, result) {
    this.running.delete(callId);
    this.timeline.setAnswer(callId, result, result.instanceId);
    this.showAgentResults(callId, result.instanceId);
    this.refreshConversationsSoon();
  }

  failTurn(callId, error) {
    this.running.delete(callId);
    const problem = asApiError(error);
    this.timeline.setFailed(callId, `${problem.message} ${problem.hint}`.trim());
    showError(problem);
  }

  // ----- text mode -----

  /** The text form from the playbook of GET /api/config (none: only the request box). */
  setUpAskForm() {
    const playbook = this.config.playbook || null;
    const identity = $("ask-identity");
    const symptoms = $("ask-symptoms");
    const more = $("ask-more");
    for (const fieldset of [identity, symptoms, more]) {
      for (const node of [...fieldset.children]) if (node.tagName !== "LEGEND") node.remove();
    }
    $("ask-request").placeholder = playbook?.placeholder || GENERIC_PLACEHOLDER;
    for (const field of playbook?.identity || []) {
      const id = IDENTITY_IDS[field.name] || `ask-identity-${idPart(field.name)}`;
      identity.append(el("label", { for: id }, field.label), fieldInput(field, id, "customer"));
    }
    for (const symptom of playbook?.symptoms || []) {
      symptoms.append(el("label", {}, el("input", { type: "checkbox", name: "symptoms", value: symptom.id }), ` ${symptom.label}`));
    }
    for (const field of playbook?.details || []) {
      const id = `ask-detail-${idPart(field.name)}`;
      const hint = field.description ? el("span", { className: "hint", id: `${id}-hint` }, field.description) : null;
      more.append(
        el("div", { className: "field" }, el("label", { for: id }, field.label), fieldInput(field, id, "details", hint && hint.id), hint),
      );
    }
    const shown = [];
    for (const fieldset of [identity, symptoms, more]) {
      fieldset.hidden = fieldset.children.length <= 1; // the legend alone: nothing to fill in
      if (!fieldset.hidden) shown.push(fieldset.querySelector("legend").textContent.toLowerCase());
    }
    $("ask-details").hidden = !shown.length;
    const listed = shown.length > 1 ? `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)}` : shown[0] || "";
    $("ask-details-summary").textContent = `${listed.charAt(0).toUpperCase()}${listed.slice(1)} (optional)`;
    $("ask-form").onsubmit = (event) => {
      event.preventDefault();
      this.askFromForm(event.currentTarget);
    };
  }

  /** With Voice Live: typed text goes to the realtime model; else straight to the agents. */
  async askFromForm(form) {
    const request = $("ask-request").value.trim();
    if (!request) return;
    const fields = formFields(form);
    if (this.voice) {
      await this.askModel(form, request, fields);
      return;
    }
    const body = { request, conversationId: this.currentConversation(), callId: newId("text-"), ...fields };

    hideError();
    $("ask-request").value = "";
    $("ask-status").textContent = "Sent; the specialists are working on it.";
    this.beginTurn(body.callId, request, summary(fields), "text");
    try {
      const result = await this.delegations.run(body, {
        onAccepted: (data, status) => this.accepted(body.callId, data, status),
      });
      this.finishTurn(body.callId, result);
      $("ask-status").textContent = "Answered.";
    } catch (error) {
      this.failTurn(body.callId, error);
      $("ask-status").textContent = "";
      $("ask-request").value ||= request; // let the person send it again
    }
  }

  /**
   * The typed text into the realtime session (the voice one, or one opened in text modality):
   * the model reads it as it hears speech and fills the tool; its calls take the voice path.
   */
  async askModel(form, request, fields) {
    hideError();
    this.currentConversation();
    $("ask-request").value = "";
    $("ask-status").textContent = "Sending to the assistant…";
    const line = this.timeline.typedLine(request, summary(fields));
    try {
      await this.voice.sendText(request, fields);
      line.dataset.state = "sent";
      $("ask-status").textContent = "Sent; the assistant is answering.";
    } catch (error) {
      line.dataset.state = "failed";
      line.append(el("span", { className: "turn-note", dataset: { kind: "not-sent" } }, " Not sent."));
      $("ask-status").textContent = "Not sent: your text is back in the box.";
      $("ask-request").value ||= request; // let the person send it again
      showError(new ApiError(0, "not_sent", `Your text was not sent: ${error.message}`, error.category === "network" || error.category === "rate_limited"));
    }
  }

  // ----- voice mode -----

  setUpVoice() {
    if (!this.config.voice.enabled) {
      $("voice-controls").hidden = true;
      $("voice-state").hidden = true;
      return;
    }
    $("voice-controls").hidden = false;
    $("voice-state").hidden = false;
    setPill("voice-state", "off");
    this.voice = new VoiceBridge({
      api: this.api,
      delegations: this.delegations,
      audio: new AudioIO(),
      conversationId: () => this.currentConversation(),
      // Voice Live is billed while a session is open: one nobody uses is ended (VOICE_IDLE_MINUTES).
      idleMs: (this.config.voice.idleMinutes || 0) * 60_000,
      hooks: {
        onCall: ({ callId, body, input }) => this.beginTurn(callId, body.request, summary(body), input === "text" ? "typed" : "voice"),
        onAccepted: (callId, data, status) => this.accepted(callId, data, status),
        onAnswer: (callId, result) => this.finishTurn(callId, result),
        onFailed: (callId, error) => this.failTurn(callId, error),
        onLate: (callId, result) => {
          this.running.delete(callId);
          if (result) this.timeline.setAnswer(callId, result, result.instanceId);
          this.timeline.note(callId, null, "The voice connection was renewed before this answer came; it was not read out.", "late");
        },
        onTranscript: (who, text) => this.timeline.voiceLine(who, text),
        onReplyText: (key, text, done) => {
          this.timeline.replyLine(key, text, done);
          if (done && $("ask-status").textContent.startsWith("Sent;")) $("ask-status").textContent = "Answered.";
        },
        onProblem: (problem) => showVoiceProblem(problem),
        // Best effort: a report refused (429) or lost changes nothing for the person.
        onLatency: (report) => this.api.request("/api/metrics/voice-latency", { method: "POST", body: report }).catch(() => {}),
      },
    });
    this.voice.addEventListener("state", (event) => {
      const { problem, mode } = event.detail;
      // A text-only session: "text" when open; Start voice adds the microphone to it.
      const state = mode === "text" && event.detail.state === "connected" ? "text" : event.detail.state;
      setPill("voice-state", state === "connected" ? "listening" : state);
      const on = mode === "audio" && !["off", "error", "idle"].includes(state);
      $("voice-start").hidden = on;
      $("voice-stop").hidden = !on;
      if (problem) showVoiceProblem(problem);
      else showVoiceProblem({ category: "", message: VOICE_NOTE[state] });
    });
    $("voice-start").onclick = () => {
      hideError();
      this.voice.start().catch(showError);
    };
    $("voice-stop").onclick = () => this.voice.stop();
  }
}

// ----- start -----

async function main() {
  const inPopupOrFrame = window.opener !== null || window.parent !== window;
  if (inPopupOrFrame && /[#&?](code|error)=/.test(location.hash + location.search)) {
    // MSAL's popup and silent-renewal responses land here: hand them to the main window.
    const { broadcastResponseToMainFrame } = await import("@azure/msal-browser/redirect-bridge");
    await broadcastResponseToMainFrame();
    return;
  }
  let apiBase;
  let config;
  try {
    apiBase = await loadApiBase();
  } catch (error) {
    $("loading").hidden = true;
    showError(error);
    return;
  }
  try {
    const response = await fetch(apiUrl(apiBase, "/api/config"), { headers: { Accept: "application/json" } });
    if (!response.ok) throw new ApiError(response.status, `http_${response.status}`, "The client settings could not be loaded.", true);
    config = await response.json();
  } catch (error) {
    $("loading").hidden = true;
    // A browser reports a CORS refusal exactly like an unreachable host: name both.
    const unreachable = apiBase
      ? `The service at ${apiBase} cannot be reached, or it does not accept requests from this site (CORS).`
      : "The service cannot be reached.";
    showError(error instanceof ApiError ? error : new ApiError(0, "unreachable", unreachable, true));
    return;
  }
  await new App(config, apiBase).boot();
}

main();
