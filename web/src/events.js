// Live events over Azure Web PubSub (@azure/web-pubsub-client): automatic reconnect with a
// fresh token from POST /api/events/negotiate on every (re)connect, a visible connection state,
// and repeats dropped by event id.

import { WebPubSubClient } from "@azure/web-pubsub-client";

const SEEN_LIMIT = 5000;
const RESTART_MAX_MS = 30_000;

/** States: disabled, connecting, connected, reconnecting, offline. */
export class LiveEvents extends EventTarget {
  /** @param {{request: Function}} api */
  constructor(api) {
    super();
    this.api = api;
    this.state = "offline";
    this.history = [];
    this.negotiations = 0;
    this.client = null;
    this.seen = new Set();
    this.stopping = false;
    this.restartTimer = null;
    this.restartAttempt = 0;
    this.lastError = null;
    this.onOnline = () => {
      if (this.state === "offline" && !this.stopping) this.restart(0);
    };
    this.onOffline = () => {
      if (this.client) this.setState("offline");
    };
  }

  setState(state, detail = null) {
    if (state === this.state && !detail) return;
    this.state = state;
    this.history.push(state);
    if (this.history.length > 50) this.history.shift();
    this.dispatchEvent(new CustomEvent("state", { detail: { state, error: detail } }));
  }

  disable() {
    this.setState("disabled");
  }

  async start() {
    this.stopping = false;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.setState("connecting");
    const client = new WebPubSubClient(
      {
        getClientAccessUrl: async () => {
          this.negotiations += 1;
          try {
            const { data } = await this.api.request("/api/events/negotiate", { method: "POST" });
            this.lastError = null;
            return data.url;
          } catch (error) {
            this.lastError = error;
            if (this.state !== "connecting") this.setState(navigator.onLine ? "reconnecting" : "offline", error);
            throw error;
          }
        },
      },
      {
        autoReconnect: true,
        reconnectRetryOptions: { mode: "Exponential", retryDelayInMs: 1000, maxRetryDelayInMs: 30_000 },
        keepAliveIntervalInMs: 20_000,
        keepAliveTimeoutInMs: 60_000,
      },
    );
    this.client = client;
    client.on("connected", () => {
      this.restartAttempt = 0;
      this.setState("connected");
    });
    client.on("disconnected", () => {
      if (!this.stopping) this.setState(navigator.onLine ? "reconnecting" : "offline");
    });
    client.on("stopped", () => {
      if (this.client !== client || this.stopping) return;
      this.setState("offline", this.lastError);
      this.restart();
    });
    client.on("server-message", (event) => this.receive(event.message));
    client.on("group-message", (event) => this.receive(event.message));
    try {
      await client.start();
    } catch (error) {
      if (this.client !== client || this.stopping) return;
      this.setState("offline", this.lastError || error);
      this.restart();
    }
  }

  /** Start again after a full stop, with exponential back-off (the SDK gave up). */
  restart(delay) {
    clearTimeout(this.restartTimer);
    this.restartAttempt += 1;
    const wait = delay ?? Math.min(RESTART_MAX_MS, 1000 * 2 ** Math.min(this.restartAttempt, 5));
    this.restartTimer = setTimeout(() => {
      const old = this.client;
      this.client = null;
      if (old) old.stop();
      this.start();
    }, wait);
  }

  receive(message) {
    let data = message.data;
    if (message.dataType === "text" && typeof data === "string") {
      try {
        data = JSON.parse(data);
      } catch {
        return;
      }
    }
    if (!data || typeof data !== "object" || typeof data.type !== "string" || !data.id) return;
    if (this.seen.has(data.id)) return; // a repeat (reconnect replay, or user + ops delivery)
    this.seen.add(data.id);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value);
    this.dispatchEvent(new CustomEvent("event", { detail: data }));
  }

  stop() {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    const client = this.client;
    this.client = null;
    if (client) client.stop();
    this.setState("offline");
  }
}
