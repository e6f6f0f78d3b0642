// The live network view: the agent network drawn as a graph (SVG, no framework). The host sits in
// the middle, each admitted agent around it with its health; the edge to an agent is lit while a
// call to it runs (working, retrying, input-required, done, failed, timed out) and carries its
// stage number from the turn's plan (`task.created` data.stages); a person node appears when a
// supervisor is asked (`approval.requested`) and shows the outcome (`approval.resolved`).
// It animates from the live events only. The list view (agents.js) stays as the fallback; here
// the text alternative is a status line (role="status") and focusable nodes with aria-labels,
// one tab stop for the whole graph (arrow keys move between nodes).
//
// GraphModel and layout() are plain logic (node tests, web/test/graph.test.mjs); NetworkGraph
// draws them and touches the DOM only when constructed.

import { displayName } from "./agents.js";

// agent.status -> the state an edge shows (started and a streaming agent's working are the same).
const EDGE_STATES = {
  started: "working",
  working: "working",
  retrying: "retrying",
  "input-required": "input-required",
  completed: "done",
  failed: "failed",
  "timed-out": "timed-out",
};
// planned: in the turn's plan, not called yet; skipped: the turn ended without calling it.
const STATE_TEXT = {
  idle: "",
  planned: "planned",
  working: "working",
  retrying: "retrying",
  "input-required": "waiting for a person",
  done: "done",
  failed: "failed",
  "timed-out": "timed out",
  skipped: "not called",
};
const OUTCOME_TEXT = {
  asked: "asked",
  approved: "approved",
  rejected: "rejected",
  replied: "replied",
  "timed-out": "no answer in time",
  resolved: "answered",
};
// The person node's second line, under "supervisor" (the band is narrow: one word).
const OUTCOME_WORD = { ...OUTCOME_TEXT, "timed-out": "no answer" };
// task.updated states that end a turn, and how the status line says so.
const TURN_OVER = { completed: "Request answered", failed: "Request failed", canceled: "Request canceled" };
// The order the status line counts edges in once a turn is over (a person's answer may still
// set an agent working again after the answer: the follow-up).
const COUNTED = ["done", "failed", "timed-out", "skipped", "working", "retrying", "input-required"];

// Geometry, in CSS pixels: the SVG is drawn at the width it is shown at, so text stays 11 px.
export const GEOMETRY = Object.freeze({
  nodeR: 16,
  hostR: 22,
  personR: 13,
  strip: 30, // the bands above and below where the person node appears (reserved: nothing jumps)
  labelHalf: 46, // half the width a node's label may take
  lineHeight: 13,
  charWidth: 6.2, // an 11 px sans-serif character, on average: labels are cut to fit
  minWidth: 200,
  fallbackWidth: 300,
});
const LABEL_SPACE = 2 * GEOMETRY.lineHeight + 8; // two label lines and the gap to the node
export const LABEL_CHARS = Math.floor((2 * GEOMETRY.labelHalf) / GEOMETRY.charWidth);

/** The edge state an `agent.status` status shows, or null for a status the graph does not know. */
export function edgeState(status) {
  return EDGE_STATES[status] || null;
}

/** A label in at most two lines of `max` characters, cut with "…" when longer. */
export function labelLines(text, max = LABEL_CHARS) {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const joined = line ? `${line} ${word}` : word;
    if (joined.length <= max) line = joined;
    else {
      if (line) lines.push(line);
      line = word;
    }
  }
  if (line) lines.push(line);
  const cut = (value) => (value.length > max ? `${value.slice(0, max - 1)}…` : value);
  // What does not fit in two lines goes on the second one, cut.
  if (lines.length > 2) return [cut(lines[0]), cut(lines.slice(1).join(" "))];
  return lines.map(cut);
}

/** Clamp `value` into [low, high]. */
function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

/**
 * Where everything goes for `names` (in drawing order) at `width` px: the host in the middle,
 * the agents on an ellipse around it starting at the top, each label on the outer side of its
 * node (above in the top half, else below), a band above and below for the person node.
 */
export function layout(names, width) {
  const { nodeR, strip, labelHalf, minWidth, fallbackWidth } = GEOMETRY;
  const w = Math.max(minWidth, Math.round(width) || fallbackWidth);
  const count = names.length;
  const rx = clamp(w / 2 - labelHalf, 40, 130);
  // Taller than wide with many agents: labels of neighbours stay apart vertically.
  const ry = clamp(Math.max(rx, 16 * count), 70, 200);
  const cx = w / 2;
  const cy = strip + LABEL_SPACE + nodeR + ry;
  const height = Math.round(cy + ry + nodeR + LABEL_SPACE + strip);
  const nodes = names.map((name, index) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * index) / count;
    const x = cx + rx * Math.cos(angle);
    const y = cy + ry * Math.sin(angle);
    return { name, x, y, labelAbove: Math.sin(angle) < -0.2 };
  });
  return { width: w, height, host: { x: cx, y: cy }, nodes };
}

/**
 * Where the person node goes for `target` (an agent's place in `place`, or null for the host):
 * in the band on the target's side, straight above or below it, so its link crosses nothing but
 * the target's own label; for the host, the top right corner. Its words sit on the side towards
 * the middle (anchor "end": to the left of the icon).
 */
export function personPlace(place, target) {
  const { personR, strip } = GEOMETRY;
  const edge = personR + 4;
  if (!target) return { x: place.width - edge, y: strip / 2, anchor: "end" };
  const x = clamp(target.x, edge, place.width - edge);
  const y = target.labelAbove ? strip / 2 : place.height - strip / 2;
  return { x, y, anchor: x >= place.width / 2 ? "end" : "start" };
}

/** What the graph shows, from the agents list and the live events of the turn it follows. */
export class GraphModel {
  constructor() {
    this.agents = new Map(); // name -> {name, health}: admitted agents only
    this.reset();
  }

  /** Forget the turn: every edge goes dark, no stages, no person. */
  reset() {
    this.edges = new Map(); // name -> edge state
    this.stageOf = new Map(); // name -> stage number (1-based) in the turn's plan
    this.stageCount = 0;
    this.turns = new Map(); // instanceId -> {stages, over}
    this.ending = "completed"; // how the last turn to end ended (task.updated state)
    this.person = null; // {agent: name or null (the host), state: asked or an outcome, reason}
    this.waiting = []; // agents whose last state is input-required, latest last
  }

  /** The admitted agents (GET /api/agents or registry.updated); pending ones are not drawn. */
  setAgents(agents) {
    this.agents.clear();
    for (const agent of agents || []) {
      if (agent.admission && agent.admission !== "admitted") continue;
      this.agents.set(agent.name, { name: agent.name, health: agent.health || "healthy" });
    }
  }

  /** The drawn agents' names, in drawing order (the list view's order too). */
  names() {
    return [...this.agents.keys()].sort((a, b) => a.localeCompare(b));
  }

  /** True while a followed turn has not ended. */
  running() {
    return [...this.turns.values()].some((turn) => !turn.over);
  }

  /** The turn of `instanceId`; a new one starts afresh unless another is still running. */
  turn(instanceId) {
    const key = instanceId || "";
    if (!this.turns.has(key)) {
      // Two calls of one response run side by side: the second adds to the picture.
      if (!this.running()) this.reset();
      this.turns.set(key, { stages: 0, over: false });
    }
    return this.turns.get(key);
  }

  /** An edge's state ("idle" when the turn has not touched it). */
  edge(name) {
    return this.edges.get(name) || "idle";
  }

  /** Apply one live event; true when something shown changed. */
  apply(event) {
    const data = event.data || {};
    switch (event.type) {
      case "task.created":
        return this.planned(event.instanceId, Array.isArray(data.stages) ? data.stages : []);
      case "agent.status":
        return this.status(event.instanceId, event.agent, data.status);
      case "approval.requested":
        return this.asked(event.instanceId, event.agent || null, data.reason || "");
      case "approval.resolved":
        return this.resolved(event.instanceId, event.agent || null, data.outcome);
      case "task.updated":
        return this.updated(event.instanceId, data.state);
      default:
        return false; // registry.updated reaches setAgents through main.js, with pending ones
    }
  }

  /** task.created: a new turn and its stages, each agent planned with its stage number. */
  planned(instanceId, stages) {
    const turn = this.turn(instanceId);
    turn.stages = stages.length;
    stages.forEach((stage, index) => {
      for (const name of stage) {
        this.stageOf.set(name, index + 1);
        if (this.edge(name) === "idle") this.edges.set(name, "planned");
      }
    });
    this.stageCount = Math.max(this.stageCount, stages.length);
    return true;
  }

  /** agent.status: the agent's edge takes the state. */
  status(instanceId, agent, status) {
    const state = edgeState(status);
    if (!agent || !state) return false;
    const turn = this.turn(instanceId);
    // An agent outside the plan (a technician dispatch after the diagnosis) is one more stage.
    if (!this.stageOf.has(agent) && turn.stages) {
      this.stageOf.set(agent, turn.stages + 1);
      this.stageCount = Math.max(this.stageCount, turn.stages + 1);
    }
    this.setEdge(agent, state);
    return true;
  }

  /** Set an edge, keeping track of who waits for a person. */
  setEdge(agent, state) {
    this.edges.set(agent, state);
    this.waiting = this.waiting.filter((name) => name !== agent);
    if (state === "input-required") this.waiting.push(agent);
  }

  /**
   * approval.requested: the person node, tied to the agent the event names; without one (older
   * hosts), to the agent last waiting for input, else to the host.
   */
  asked(instanceId, agent, reason) {
    this.turn(instanceId);
    const who = agent || this.waiting.at(-1) || null;
    if (agent) this.setEdge(agent, "input-required");
    this.person = { agent: who, state: "asked", reason };
    return true;
  }

  /** approval.resolved: the person node shows the outcome (it fades, the turn goes on). */
  resolved(instanceId, agent, outcome) {
    this.turn(instanceId);
    const state = OUTCOME_TEXT[outcome] && outcome !== "asked" ? outcome : "resolved";
    this.person = { agent: this.person?.agent ?? agent, state, reason: this.person?.reason || "" };
    return true;
  }

  /**
   * task.updated: a turn that completed or failed is answered; what it never called is skipped.
   * Its events still count after that: a person's answer comes later, as a follow-up.
   */
  updated(instanceId, state) {
    const turn = this.turns.get(instanceId || "");
    if (!turn || !TURN_OVER[state] || turn.over) return false;
    turn.over = true;
    this.ending = state;
    if (!this.running()) {
      for (const [name, edge] of this.edges) if (edge === "planned") this.edges.set(name, "skipped");
    }
    return true;
  }

  /** The stage the turn is at: the latest one an agent was called in, else the first. */
  currentStage() {
    let latest = 0;
    for (const [name, state] of this.edges) {
      if (state !== "planned" && state !== "skipped") latest = Math.max(latest, this.stageOf.get(name) || 0);
    }
    return latest || (this.stageCount ? 1 : 0);
  }

  /** The line a screen reader hears (role="status"): the turn's stage, the person, the end. */
  summary() {
    if (!this.turns.size) return "No request yet.";
    const parts = [];
    if (this.running()) {
      const stage = this.currentStage();
      const names = [...this.stageOf].filter(([, number]) => number === stage).map(([name]) => displayName(name));
      parts.push(stage ? `Stage ${stage} of ${this.stageCount}: ${listed(names)}.` : "Request running.");
    } else {
      const counts = COUNTED.map((state) => [state, [...this.edges.values()].filter((edge) => edge === state).length]);
      const shown = counts.filter(([, count]) => count).map(([state, count]) => `${count} ${STATE_TEXT[state]}`);
      parts.push(`${TURN_OVER[this.ending]}${shown.length ? `: ${shown.join(", ")}` : ""}.`);
    }
    if (this.person) parts.push(this.personText());
    return parts.join(" ");
  }

  /** The person node in words. */
  personText() {
    const { agent, state } = this.person;
    if (state === "asked") return `A supervisor is asked${agent ? ` for ${displayName(agent)}` : ""}.`;
    return `Supervisor: ${OUTCOME_TEXT[state]}.`;
  }

  /** An agent node's accessible name: name, health, its state and stage in this turn. */
  nodeLabel(name) {
    const agent = this.agents.get(name);
    const state = STATE_TEXT[this.edge(name)];
    const stage = this.stageOf.get(name);
    return [`${displayName(name)}: ${agent ? agent.health : "not registered"}`, state, stage ? `stage ${stage}` : ""]
      .filter(Boolean)
      .join(", ");
  }

  /** The person node's accessible name (with the reason while asked). */
  personLabel() {
    if (!this.person) return "";
    const { reason, state } = this.person;
    return state === "asked" && reason ? `${this.personText()} ${reason}` : this.personText();
  }
}

/** "a", "a and b", "a, b and c". */
function listed(names) {
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0] || "";
}

// One small stroked glyph per state inside a node (never colour alone), centred on 0,0.
const GLYPHS = {
  working: "M-6 0h.01M0 0h.01M6 0h.01",
  retrying: "M5.5 -2.5A6 6 0 1 0 6 1.5M6 -7v4.5h-4.5",
  "input-required": "M-3.5 -3.5a3.5 3.5 0 1 1 4.6 3.3c-.8.3-1.1.8-1.1 1.7v.5M0 5.5h.01",
  done: "M-5.5 0l3.5 3.5l7.5 -7.5",
  failed: "M-4.5 -4.5l9 9M4.5 -4.5l-9 9",
  "timed-out": "M-6 0a6 6 0 1 0 12 0a6 6 0 1 0 -12 0M0 -3.5v3.5h3",
};
const PERSON_ICON = "M0 -1.5a3.5 3.5 0 1 0 0 -7a3.5 3.5 0 1 0 0 7M-6.5 7.5a6.5 6 0 0 1 13 0";

/** The live network view: draws a GraphModel into an <svg> and a status line. */
export class NetworkGraph {
  /**
   * @param {SVGSVGElement} svg the (empty) <svg> in index.html: its namespace is used for the
   *   nodes, so no source file needs to spell the SVG namespace URL
   * @param {HTMLElement} status the text alternative's live line (role="status")
   * @param {{follows?: (event: any) => boolean}} options which turn events are this page's
   */
  constructor(svg, status, { follows = () => true } = {}) {
    this.svg = svg;
    this.status = status;
    this.follows = follows;
    this.model = new GraphModel();
    this.width = 0;
    this.parts = null;
    this.focusKey = "host"; // the node that holds the graph's one tab stop
    svg.addEventListener("keydown", (event) => this.onKey(event));
    svg.addEventListener("focusin", (event) => {
      const key = event.target.closest?.("[data-key]")?.dataset.key;
      if (!key) return;
      this.focusKey = key;
      this.updateFocus();
    });
    // Redrawn at the width it is shown at: text keeps its size from a phone to a wide screen.
    if (typeof ResizeObserver === "function") new ResizeObserver(() => this.resized()).observe(svg.parentElement);
    this.build();
  }

  /** The agents list (GET /api/agents, registry.updated): redraws the nodes. */
  setAgents(agents) {
    this.model.setAgents(agents);
    this.build();
  }

  /** A live event (every one the page receives; the graph keeps its own turn's). */
  onEvent(event) {
    if (!event || !this.follows(event)) return;
    if (this.model.apply(event)) this.update();
  }

  /** Back to no turn. */
  reset() {
    this.model.reset();
    this.update();
  }

  /** The width changed: draw again at the new one. */
  resized() {
    if (Math.round(this.svg.parentElement.clientWidth) !== this.width) this.build();
  }

  /** An SVG element in the <svg>'s own namespace. */
  make(tag, attributes = {}, ...children) {
    const node = document.createElementNS(this.svg.namespaceURI, tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    node.append(...children.filter(Boolean));
    return node;
  }

  /** Create every element for the current agents and width; states come from update(). */
  build() {
    const hadFocus = this.svg.contains(document.activeElement);
    this.width = Math.round(this.svg.parentElement?.clientWidth || 0);
    const names = this.model.names();
    const place = layout(names, this.width);
    const { nodeR, hostR, personR, lineHeight } = GEOMETRY;
    this.svg.setAttribute("viewBox", `0 0 ${place.width} ${place.height}`);
    this.svg.replaceChildren();
    const edges = this.make("g", { class: "graph-edges" });
    const nodes = this.make("g", { class: "graph-nodes" });
    this.parts = { edges: new Map(), nodes: new Map(), place };

    for (const node of place.nodes) {
      const { x, y } = node;
      const mid = { x: (place.host.x + x) / 2, y: (place.host.y + y) / 2 };
      const edge = this.make(
        "g",
        { class: "graph-edge", "data-agent": node.name },
        this.make("line", { x1: place.host.x, y1: place.host.y, x2: x, y2: y }),
        this.make(
          "g",
          { class: "graph-stage", transform: `translate(${mid.x.toFixed(1)} ${mid.y.toFixed(1)})` },
          this.make("circle", { r: 8 }),
          this.make("text", { "text-anchor": "middle", dy: "0.35em" }),
        ),
      );
      edges.append(edge);
      const lines = labelLines(displayName(node.name));
      // Above the node the last line sits next to it; below, the first one does.
      const first = node.labelAbove ? y - nodeR - 6 - (lines.length - 1) * lineHeight : y + nodeR + lineHeight;
      const label = this.make(
        "text",
        { class: "graph-label", "text-anchor": "middle" },
        ...lines.map((line, index) => this.make("tspan", { x: x.toFixed(1), y: (first + index * lineHeight).toFixed(1) }, line)),
      );
      const group = this.make(
        "g",
        { class: "graph-node", "data-agent": node.name, "data-key": node.name, role: "img", tabindex: -1 },
        this.make("title", {}, node.name),
        this.make("circle", { class: "graph-ring", cx: x.toFixed(1), cy: y.toFixed(1), r: nodeR }),
        this.make("path", { class: "graph-glyph", transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` }),
        label,
      );
      nodes.append(group);
      this.parts.edges.set(node.name, edge);
      this.parts.nodes.set(node.name, group);
    }

    const { host } = place;
    this.parts.host = this.make(
      "g",
      { class: "graph-host", "data-key": "host", role: "img", tabindex: -1 },
      this.make("circle", { class: "graph-ring", cx: host.x, cy: host.y, r: hostR }),
      this.make("text", { class: "graph-host-text", x: host.x, y: host.y, "text-anchor": "middle", dy: "0.35em" }, "host"),
    );
    nodes.prepend(this.parts.host);
    // Placed by updatePerson(), next to whoever waits for the person.
    this.parts.personLink = this.make("line", { class: "graph-person-link", hidden: "" });
    edges.append(this.parts.personLink);
    this.parts.personText = this.make(
      "text",
      { class: "graph-label" },
      this.make("tspan", { y: -2 }, "supervisor"),
      this.make("tspan", { y: lineHeight - 2 }),
    );
    this.parts.person = this.make(
      "g",
      { class: "graph-person", "data-key": "person", role: "img", tabindex: -1, hidden: "" },
      this.make("circle", { class: "graph-ring", r: personR }),
      this.make("path", { class: "graph-glyph", d: PERSON_ICON, transform: "translate(0 1)" }),
      this.parts.personText,
    );
    nodes.append(this.parts.person);
    this.svg.append(edges, nodes);
    this.update();
    if (hadFocus) this.focusable(this.focusKey)?.focus();
  }

  /** Every state, label and position that depends on the turn; changed attributes only. */
  update() {
    if (!this.parts) return;
    const model = this.model;
    for (const [name, edge] of this.parts.edges) {
      const state = model.edge(name);
      const stage = model.stageOf.get(name);
      const node = this.parts.nodes.get(name);
      set(edge, "data-state", state);
      set(edge, "data-stage", stage ? String(stage) : "");
      edge.querySelector("text").textContent = stage ? String(stage) : "";
      set(node, "data-state", state);
      set(node, "data-health", model.agents.get(name)?.health || "healthy");
      set(node, "aria-label", model.nodeLabel(name));
      const glyph = node.querySelector(".graph-glyph");
      if (GLYPHS[state]) set(glyph, "d", GLYPHS[state]);
      else glyph.removeAttribute("d");
    }
    const summary = model.summary();
    set(this.parts.host, "aria-label", `Host: ${summary}`);
    set(this.parts.host, "data-state", model.running() ? "working" : "idle");
    this.updatePerson();
    // role="status" speaks each change: only the turn's milestones are worded here.
    if (this.status.textContent !== summary) this.status.textContent = summary;
    this.updateFocus();
  }

  /** The person node and its link to the agent (or the host) that waits for it. */
  updatePerson() {
    const { person, personLink, personText, place } = this.parts;
    const asked = this.model.person;
    if (!asked) {
      set(person, "hidden", "");
      set(personLink, "hidden", "");
      person.removeAttribute("data-state");
      return;
    }
    const node = (asked.agent && place.nodes.find((item) => item.name === asked.agent)) || null;
    const target = node || place.host;
    const at = personPlace(place, node);
    const { personR } = GEOMETRY;
    person.removeAttribute("hidden");
    personLink.removeAttribute("hidden");
    set(person, "transform", `translate(${at.x.toFixed(1)} ${at.y.toFixed(1)})`);
    const [first, second] = personText.children;
    for (const line of [first, second]) set(line, "x", String(at.anchor === "end" ? -personR - 5 : personR + 5));
    set(personText, "text-anchor", at.anchor);
    second.textContent = OUTCOME_WORD[asked.state];
    set(personLink, "x1", at.x.toFixed(1));
    set(personLink, "y1", at.y.toFixed(1));
    set(person, "data-state", asked.state);
    set(person, "data-agent", asked.agent || "host");
    set(person, "aria-label", this.model.personLabel());
    set(personLink, "data-state", asked.state);
    set(personLink, "x2", target.x.toFixed(1));
    set(personLink, "y2", target.y.toFixed(1));
  }

  /** The focusable nodes in order: host, agents, person (when shown). */
  focusables() {
    const list = [this.parts.host, ...this.parts.nodes.values()];
    if (!this.parts.person.hasAttribute("hidden")) list.push(this.parts.person);
    return list;
  }

  /** The focusable node of `key`, if drawn. */
  focusable(key) {
    return this.focusables().find((node) => node.dataset.key === key) || null;
  }

  /** One tab stop for the graph (roving tabindex): the node last focused, else the host. */
  updateFocus() {
    const nodes = this.focusables();
    if (!nodes.some((node) => node.dataset.key === this.focusKey)) this.focusKey = "host";
    for (const node of nodes) set(node, "tabindex", node.dataset.key === this.focusKey ? "0" : "-1");
    if (this.parts.person.hasAttribute("hidden")) set(this.parts.person, "tabindex", "-1");
  }

  /** Arrow keys, Home and End move between the nodes. */
  onKey(event) {
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    const nodes = this.focusables();
    const at = nodes.findIndex((node) => node.dataset.key === this.focusKey);
    let next;
    if (event.key in moves) next = (at + moves[event.key] + nodes.length) % nodes.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = nodes.length - 1;
    else return;
    event.preventDefault();
    this.focusKey = nodes[next].dataset.key;
    this.updateFocus();
    nodes[next].focus();
  }
}

/** Set an attribute only when it changes: a MutationObserver sees each real change once. */
function set(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}
