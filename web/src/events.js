// Live events over Azure Web PubSub (@azure/web-pubsub-client): a visible connection state,
// repeats dropped by event id, and nothing lost to a network drop that can be helped. A dropped
// socket is recovered by the SDK (the reliable protocol replays what was sent meanwhile, on the
// same connection). When the network comes back, or the SDK gives up, a new connection starts
// with a fresh token from POST /api/events/negotiate; the old one is kept a while to take what it
// still holds. Events sent while neither connection could get them are gone: a "recovered" event
// after every new connection tells the page to read again the state of what it waits for.

import { WebPubSubClient } from "@azure/web-pubsub-client";

const SEEN_LIMIT = 5000;
const RESTART_MAX_MS = 30_000;
const DRAIN_MS = 10_000; // how long a replaced connection may still deliver (stalled or replayed)

/** States: disabled, connecting, connected, reconnecting, offline. Events: state, event, recovered. */
export class LiveEvents extends EventTarget {
  /** @param {{request: Function}} api */
  constructor(api) {
    super();
    this.api = api;
    this.state = "offline";
    this.history = [];
    this.negotiations = 0;
    this.client = null;
    this.draining = new Set(); // replaced clients, stopped after DRAIN_MS
    this.connectedBefore = false;
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
    this.setState(this.connectedBefore ? "reconnecting" : "connecting");
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
            throw error;
          }
        },
      },
      {
        // Recovery of a dropped socket is the SDK's; a new connection is ours (restart), so a
        // replaced client never reconnects behind our back.
        autoReconnect: false,
        keepAliveIntervalInMs: 20_000,
        keepAliveTimeoutInMs: 60_000,
      },
    );
    this.client = client;
    client.on("connected", () => {
      if (client !== this.client) return;
      this.restartAttempt = 0;
      this.setState("connected");
      if (this.connectedBefore) this.dispatchEvent(new CustomEvent("recovered"));
      this.connectedBefore = true;
    });
    client.on("disconnected", () => {
      if (client === this.client && !this.stopping) this.setState(navigator.onLine ? "reconnecting" : "offline");
    });
    client.on("stopped", () => {
      if (client !== this.client || this.stopping) return;
      this.setState(this.lastError || !navigator.onLine ? "offline" : "reconnecting", this.lastError);
      this.restart();
    });
    const take = (event) => {
      this.receive(event.message);
      // A replaced client whose recovery succeeded after its drain time: its socket is open now.
      if (client !== this.client && !this.draining.has(client)) client.stop();
    };
    client.on("server-message", take);
    client.on("group-message", take);
    try {
      await client.start();
    } catch (error) {
      if (this.client !== client || this.stopping) return;
      this.setState("offline", this.lastError || error);
      this.restart();
    }
  }

  /** A new connection after `delay` ms, or after an exponential back-off (1 s to 30 s). */
  restart(delay) {
    clearTimeout(this.restartTimer);
    this.restartAttempt += 1;
    const wait = delay ?? Math.min(RESTART_MAX_MS, 1000 * 2 ** Math.min(this.restartAttempt - 1, 5));
    this.restartTimer = setTimeout(() => {
      if (this.client) this.drain(this.client);
      this.client = null;
      this.start();
    }, wait);
  }

  /** Keep a replaced client a while: its socket may still hold events (stalled, or replayed). */
  drain(client) {
    this.draining.add(client);
    setTimeout(() => {
      this.draining.delete(client);
      client.stop();
    }, DRAIN_MS);
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
    // A repeat: a publishing activity run again (Durable runs activities at least once), a
    // replay, two connections, or user + ops delivery; every copy carries the first one's id.
    if (this.seen.has(data.id)) return;
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
    for (const old of this.draining) old.stop();
    this.draining.clear();
    this.setState("offline");
  }
}
