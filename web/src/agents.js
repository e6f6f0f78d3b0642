// The agent network: registered agents, their health (registry.updated), and which of them
// work on the current request (agent.status: started, retrying, completed, input-required, failed,
// timed-out).
// Supervisors also see agents waiting for admission, with Admit and Remove.

import { el, clear } from "./dom.js";

const ACTIVITY = {
  started: "working",
  retrying: "retrying",
  completed: "completed",
  "input-required": "input-required",
  failed: "failed",
  "timed-out": "timed-out",
};
const ACTIVITY_TEXT = {
  working: "working",
  retrying: "retrying",
  completed: "done",
  "input-required": "asked a question",
  failed: "failed",
  "timed-out": "timed out",
};

/** "contoso-outage-check-agent" -> "outage check" (the full name stays in data-agent). */
export function displayName(name) {
  return name.replace(/^contoso-/, "").replace(/-agent$/, "").replaceAll("-", " ");
}

export class AgentNetwork {
  /**
   * @param {HTMLElement} list @param {HTMLElement} summary
   * @param {{admit: (name: string) => void, remove: (name: string) => void} | null} manage
   *   set for supervisors: what the Admit and Remove buttons do
   */
  constructor(list, summary, manage = null) {
    this.list = list;
    this.summary = summary;
    this.manage = manage;
    this.agents = new Map(); // name -> {name, description, health, admission, skills: string[]}
    this.activity = new Map(); // name -> activity of the current request
  }

  /** @param {Array<{name: string, description?: string, health: string, admission?: string, skills?: any[]}>} agents */
  setAgents(agents) {
    this.agents.clear();
    for (const agent of agents) {
      const skills = (agent.skills || []).map((skill) => (typeof skill === "string" ? skill : skill.name || skill.id));
      this.agents.set(agent.name, {
        name: agent.name,
        description: agent.description || "",
        health: agent.health,
        admission: agent.admission || "admitted",
        skills,
      });
    }
    this.render();
  }

  /** A new request begins: every light goes off. */
  resetActivity() {
    this.activity.clear();
    this.render();
  }

  /** @param {string} agent @param {string} status */
  setStatus(agent, status) {
    const activity = ACTIVITY[status];
    if (!activity) return;
    if (!this.agents.has(agent)) {
      this.agents.set(agent, { name: agent, description: "", health: "healthy", skills: [] });
    }
    this.activity.set(agent, activity);
    this.render();
  }

  render() {
    clear(this.list);
    const agents = [...this.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const agent of agents) {
      const activity = this.activity.get(agent.name) || "idle";
      const pending = agent.admission === "pending";
      const state = pending ? "waiting for admission" : agent.health;
      const item = el(
        "li",
        {
          className: "agent",
          dataset: { agent: agent.name, health: agent.health, admission: agent.admission, activity },
          "aria-label": `${agent.name}: ${state}${activity === "idle" ? "" : `, ${ACTIVITY_TEXT[activity]}`}`,
        },
        el(
          "div",
          { className: "agent-head" },
          el("span", { className: "agent-name", title: agent.name }, displayName(agent.name)),
          el(
            "span",
            {},
            el("span", { className: "badge activity" }, ACTIVITY_TEXT[activity] || ""),
            " ",
            el("span", { className: "badge health" }, pending ? "pending" : agent.health),
          ),
        ),
        agent.description ? el("p", { className: "agent-desc" }, agent.description) : null,
        agent.skills.length ? el("p", { className: "agent-skills" }, `Skills: ${agent.skills.join(", ")}`) : null,
        pending && this.manage ? this.actions(agent.name) : null,
      );
      this.list.append(item);
    }
    const admitted = agents.filter((a) => a.admission !== "pending");
    const healthy = admitted.filter((a) => a.health === "healthy").length;
    const waiting = agents.length - admitted.length;
    const working = [...this.activity.values()].filter((a) => a === "working" || a === "retrying").length;
    this.summary.textContent = agents.length
      ? `${healthy} of ${admitted.length} agents healthy${working ? `; ${working} working` : ""}` +
        `${waiting ? `; ${waiting} waiting for admission` : ""}.`
      : "No agents are registered.";
  }

  /** Admit and Remove for a pending agent (supervisors only). */
  actions(name) {
    const label = displayName(name);
    return el(
      "div",
      { className: "agent-actions" },
      el("button", { type: "button", className: "admit", "aria-label": `Admit ${label}`, onclick: () => this.manage.admit(name) }, "Admit"),
      " ",
      el("button", { type: "button", className: "remove", "aria-label": `Remove ${label}`, onclick: () => this.manage.remove(name) }, "Remove"),
    );
  }
}
