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
import { Timeline } from "./timeline.js";
import { VoiceBridge } from "./voice.js";

const SYMPTOMS = [
  ["no_internet", "No internet"],
  ["slow_internet", "Slow internet"],
  ["intermittent_connection", "Connection drops"],
  ["modem_lights", "Modem lights"],
  ["billing_question", "Billing question"],
  ["plan_question", "Plan question"],
  ["technician_visit", "Technician visit"],
];
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
const PROGRESS_STATUS = { working: "started", "input-required": "completed" };

const VOICE_NOTE = {
  connecting: "Connecting to the voice service…",
  connected: "Listening: speak now.",
  renewing: "Renewing the voice connection…",
  reconnecting: "Voice connection lost; reconnecting…",
  error: "Voice is unavailable; use text.",
  off: "",
};

/** The voice bridge's problem (microphone, signed out, network, …) next to the voice controls. */
function showVoiceProblem({ category, message }) {
  const note = $("voice-note");
  note.dataset.category = category;
  note.textContent = message;
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
    switch (event.type) {
      case "registry.updated":
        // The event lists admitted agents; a supervisor's list also holds the pending ones.
        if (this.agents.manage) this.loadAgents();
        else this.agents.setAgents(event.data.agents || []);
        break;
      case "agent.status":
        if (event.callId && this.lit.has(event.callId)) this.agents.setStatus(event.agent, event.data.status);
        this.timeline.agentStatus(event.callId, event.instanceId, event.agent, event.data.status);
        break;
      case "message":
        this.delegations.onEvent(event);
        break;
      case "approval.requested":
        this.approvals.onEvent(event);
        this.timeline.note(event.callId, event.instanceId, "Waiting for a supervisor to approve the technician visit.", "approval");
        break;
      case "approval.resolved":
        this.approvals.onEvent(event);
        this.timeline.note(event.callId, event.instanceId, `Supervisor decision: ${event.data.outcome}.`, "approval");
        break;
      case "conversation.created":
        this.refreshConversationsSoon();
        break;
      default:
        break;
    }
  }

  // ----- agents -----

  async loadAgents() {
    try {
      const { data } = await this.api.request("/api/agents");
      this.agents.setAgents(data.agents);
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
      this.timeline.note(callId, instanceId, "Waiting for a supervisor to approve the technician visit.", "approval");
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

  setUpAskForm() {
    const symptoms = $("ask-symptoms");
    if (!symptoms.querySelector("input")) {
      for (const [value, label] of SYMPTOMS) {
        symptoms.append(el("label", {}, el("input", { type: "checkbox", name: "symptoms", value }), ` ${label}`));
      }
    }
    $("ask-form").onsubmit = (event) => {
      event.preventDefault();
      this.askFromForm(event.currentTarget);
    };
  }

  async askFromForm(form) {
    const request = form.elements.request.value.trim();
    if (!request) return;
    const customer = {};
    for (const field of ["firstName", "lastName", "postalCode", "dateOfBirth"]) {
      const value = form.elements[field].value.trim();
      if (value) customer[field] = value;
    }
    const symptoms = [...form.querySelectorAll("input[name=symptoms]:checked")].map((input) => input.value);
    const body = { request, conversationId: this.currentConversation(), callId: newId("text-") };
    if (Object.keys(customer).length) body.customer = customer;
    if (symptoms.length) body.symptoms = symptoms;
    const details = [
      customer.firstName || customer.lastName ? `${customer.firstName || ""} ${customer.lastName || ""}`.trim() : "",
      symptoms.length ? symptoms.join(", ") : "",
    ]
      .filter(Boolean)
      .join("; ");

    hideError();
    form.elements.request.value = "";
    $("ask-status").textContent = "Sent; the specialists are working on it.";
    this.beginTurn(body.callId, request, details, "text");
    try {
      const result = await this.delegations.run(body, {
        onAccepted: (data, status) => this.accepted(body.callId, data, status),
      });
      this.finishTurn(body.callId, result);
      $("ask-status").textContent = "Answered.";
    } catch (error) {
      this.failTurn(body.callId, error);
      $("ask-status").textContent = "";
      form.elements.request.value ||= request; // let the person send it again
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
      hooks: {
        onCall: ({ callId, body }) => {
          const details = [
            body.customer ? `${body.customer.firstName || ""} ${body.customer.lastName || ""}`.trim() : "",
            body.symptoms ? body.symptoms.join(", ") : "",
          ]
            .filter(Boolean)
            .join("; ");
          this.beginTurn(callId, body.request, details, "voice");
        },
        onAccepted: (callId, data, status) => this.accepted(callId, data, status),
        onAnswer: (callId, result) => this.finishTurn(callId, result),
        onFailed: (callId, error) => this.failTurn(callId, error),
        onLate: (callId, result) => {
          this.running.delete(callId);
          if (result) this.timeline.setAnswer(callId, result, result.instanceId);
          this.timeline.note(callId, null, "The voice connection was renewed before this answer came; it was not read out.", "late");
        },
        onTranscript: (who, text) => this.timeline.voiceLine(who, text),
        onProblem: (problem) => showVoiceProblem(problem),
      },
    });
    this.voice.addEventListener("state", (event) => {
      const { state, problem } = event.detail;
      setPill("voice-state", state === "connected" ? "listening" : state);
      const on = state !== "off" && state !== "error";
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
