// The agent network: registered agents, their health (registry.updated), and which of them
// work on the current request (agent.status: started, retrying, completed, failed, timed-out).

import { el, clear } from "./dom.js";

const ACTIVITY = {
  started: "working",
  retrying: "retrying",
  completed: "completed",
  failed: "failed",
  "timed-out": "timed-out",
};
const ACTIVITY_TEXT = {
  working: "working",
  retrying: "retrying",
  completed: "done",
  failed: "failed",
  "timed-out": "timed out",
};

/** "contoso-outage-check-agent" -> "outage check" (the full name stays in data-agent). */
export function displayName(name) {
  return name.replace(/^contoso-/, "").replace(/-agent$/, "").replaceAll("-", " ");
}

export class AgentNetwork {
  /** @param {HTMLElement} list @param {HTMLElement} summary */
  constructor(list, summary) {
    this.list = list;
    this.summary = summary;
    this.agents = new Map(); // name -> {name, description, health, skills: string[]}
    this.activity = new Map(); // name -> activity of the current request
  }

  /** @param {Array<{name: string, description?: string, health: string, skills?: any[]}>} agents */
  setAgents(agents) {
    this.agents.clear();
    for (const agent of agents) {
      const skills = (agent.skills || []).map((skill) => (typeof skill === "string" ? skill : skill.name || skill.id));
      this.agents.set(agent.name, {
        name: agent.name,
        description: agent.description || "",
        health: agent.health,
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
      const item = el(
        "li",
        {
          className: "agent",
          dataset: { agent: agent.name, health: agent.health, activity },
          "aria-label": `${agent.name}: ${agent.health}${activity === "idle" ? "" : `, ${ACTIVITY_TEXT[activity]}`}`,
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
            el("span", { className: "badge health" }, agent.health),
          ),
        ),
        agent.description ? el("p", { className: "agent-desc" }, agent.description) : null,
        agent.skills.length ? el("p", { className: "agent-skills" }, `Skills: ${agent.skills.join(", ")}`) : null,
      );
      this.list.append(item);
    }
    const healthy = agents.filter((a) => a.health === "healthy").length;
    const working = [...this.activity.values()].filter((a) => a === "working" || a === "retrying").length;
    this.summary.textContent = agents.length
      ? `${healthy} of ${agents.length} agents healthy${working ? `; ${working} working` : ""}.`
      : "No agents are registered.";
  }
}
