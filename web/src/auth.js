// Sign-in: the development sign-in (POST /api/auth/dev-token) or Microsoft Entra ID (MSAL).
// Tokens are renewed before they expire: dev tokens (15 minutes) two minutes early, Entra
// tokens by MSAL's acquireTokenSilent (its cache renews them ahead of expiry).

import { ApiError, apiUrl } from "./api.js";

const DEV_STORAGE_KEY = "voicea2a.devSession";
const RENEW_BEFORE_MS = 2 * 60 * 1000; // a 15-minute dev token is renewed at ~13 minutes
const MIN_VALID_MS = 60 * 1000; // a token with less left is renewed before use

/** The token's lifetime (exp - iat) in ms; else from the API's expiresAt. */
function lifetimeMs(token, expiresAtIso) {
  try {
    const part = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    if (Number.isFinite(claims.exp) && Number.isFinite(claims.iat) && claims.exp > claims.iat) {
      return (claims.exp - claims.iat) * 1000;
    }
  } catch {
    /* not a JWT we can read: use expiresAt */
  }
  return Math.max(0, Date.parse(expiresAtIso) - Date.now());
}

function expiresAt(session) {
  return session.localExpiresAt ?? Date.parse(session.expiresAt);
}

export class Auth extends EventTarget {
  /**
   * @param {{dev: boolean, entra: {clientId: string, authority: string, scope: string} | null}} signIn
   * @param {string} apiBase where the API is ("" for this origin; web/src/apibase.js)
   */
  constructor(signIn, apiBase = "") {
    super();
    this.signIn = signIn;
    this.apiBase = apiBase;
    this.mode = null; // "dev" | "entra" once signed in
    this.dev = null; // {user, roles, token, expiresAt}
    this.msal = null;
    this.account = null;
    this.renewTimer = null;
    this.renewing = null;
  }

  get signedIn() {
    return this.mode !== null;
  }

  /** Restore a session from this tab (dev token in sessionStorage; MSAL's own cache). */
  async restore() {
    if (this.signIn.entra) {
      await this.loadMsal();
      const result = await this.msal.handleRedirectPromise();
      const account = result?.account || this.msal.getActiveAccount() || this.msal.getAllAccounts()[0];
      if (account) {
        this.msal.setActiveAccount(account);
        this.account = account;
        this.mode = "entra";
        return true;
      }
    }
    if (this.signIn.dev) {
      let saved = null;
      try {
        saved = JSON.parse(sessionStorage.getItem(DEV_STORAGE_KEY) || "null");
      } catch {
        saved = null;
      }
      if (saved && saved.token && expiresAt(saved) - Date.now() > MIN_VALID_MS) {
        this.useDevSession(saved);
        return true;
      }
      if (saved && saved.user) {
        // Expired while the tab was away: sign in again as the same person.
        try {
          await this.devSignIn(saved.user, saved.roles);
          return true;
        } catch {
          sessionStorage.removeItem(DEV_STORAGE_KEY);
        }
      }
    }
    return false;
  }

  /** The development sign-in: any user name, role user or supervisor. */
  async devSignIn(user, roles) {
    let response;
    try {
      response = await fetch(apiUrl(this.apiBase, "/api/auth/dev-token"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ user, roles }),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "unreachable", "The service cannot be reached. Check the network connection.", true);
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = data?.error;
      const retryAfter = error?.retryAfter ?? (Number(response.headers.get("Retry-After")) || null);
      throw new ApiError(
        response.status,
        error?.code || `http_${response.status}`,
        error?.message || `Sign-in failed (HTTP ${response.status}).`,
        Boolean(error?.retryable),
        retryAfter,
      );
    }
    const session = {
      user: data.user,
      roles: data.roles,
      token: data.token,
      expiresAt: data.expiresAt,
      // Timed on this machine's clock from the token's own lifetime: a skewed clock cannot make
      // the renewal late (or make it loop).
      localExpiresAt: Date.now() + lifetimeMs(data.token, data.expiresAt),
    };
    sessionStorage.setItem(DEV_STORAGE_KEY, JSON.stringify(session));
    this.useDevSession(session);
    this.dispatchEvent(new CustomEvent("renewed", { detail: { expiresAt: session.expiresAt } }));
    return session;
  }

  useDevSession(session) {
    this.mode = "dev";
    this.dev = session;
    this.scheduleDevRenewal();
  }

  scheduleDevRenewal() {
    clearTimeout(this.renewTimer);
    const left = expiresAt(this.dev) - Date.now();
    const wait = Math.max(5_000, left - RENEW_BEFORE_MS);
    this.renewTimer = setTimeout(() => {
      this.renewDev().catch((error) => {
        this.dispatchEvent(new CustomEvent("error", { detail: error }));
      });
    }, wait);
  }

  async renewDev() {
    if (this.mode !== "dev" || !this.dev) return false;
    if (!this.renewing) {
      const { user, roles } = this.dev;
      this.renewing = this.devSignIn(user, roles).finally(() => {
        this.renewing = null;
      });
    }
    await this.renewing;
    return true;
  }

  async loadMsal() {
    if (this.msal) return;
    const { PublicClientApplication } = await import("@azure/msal-browser");
    const { clientId, authority } = this.signIn.entra;
    this.msal = new PublicClientApplication({
      auth: { clientId, authority, redirectUri: location.origin + location.pathname },
      cache: { cacheLocation: "sessionStorage" },
    });
    await this.msal.initialize();
  }

  /** Microsoft sign-in: a full-page redirect; restore() completes it when the page returns. */
  async entraSignIn() {
    await this.loadMsal();
    await this.msal.loginRedirect({ scopes: [this.signIn.entra.scope] });
  }

  /** A bearer token valid for at least another minute. */
  async getToken() {
    if (this.mode === "dev") {
      if (expiresAt(this.dev) - Date.now() < MIN_VALID_MS) await this.renewDev();
      return this.dev.token;
    }
    if (this.mode === "entra") {
      const request = { scopes: [this.signIn.entra.scope], account: this.account };
      try {
        const result = await this.msal.acquireTokenSilent(request);
        return result.accessToken;
      } catch (error) {
        if (error && error.name === "InteractionRequiredAuthError") {
          await this.msal.acquireTokenRedirect(request);
        }
        throw new ApiError(401, "unauthenticated", "Your Microsoft sign-in has expired; sign in again.", false);
      }
    }
    throw new ApiError(401, "unauthenticated", "Sign in first.", false);
  }

  /** After a 401: renew once (true when a fresh token is ready). */
  async onUnauthorized() {
    if (this.mode === "dev") {
      try {
        return await this.renewDev();
      } catch {
        return false;
      }
    }
    if (this.mode === "entra") {
      try {
        await this.msal.acquireTokenSilent({
          scopes: [this.signIn.entra.scope],
          account: this.account,
          forceRefresh: true,
        });
        return true;
      } catch {
        return false;
      }
    }
    return false;
  }

  async signOut() {
    clearTimeout(this.renewTimer);
    sessionStorage.removeItem(DEV_STORAGE_KEY);
    const mode = this.mode;
    this.mode = null;
    this.dev = null;
    if (mode === "entra" && this.msal) {
      await this.msal.logoutRedirect({ account: this.account });
    }
  }
}
