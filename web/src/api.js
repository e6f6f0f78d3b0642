// The HTTP API client: bearer token on every call, one error type from the API's error body
// `{"error": {"code", "message", "retryable", "retryAfter?"}}`.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the service could not be reached)
   * @param {string} code the API's error code
   * @param {string} message the API's message, shown as is
   * @param {boolean} retryable whether trying again may help
   * @param {number|null} retryAfter seconds to wait before trying again, if the API said
   */
  constructor(status, code, message, retryable = false, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryable = retryable;
    this.retryAfter = retryAfter;
  }

  /** A sentence telling the person whether and when to try again. */
  get hint() {
    if (this.retryAfter != null) {
      const seconds = Math.max(1, Math.ceil(this.retryAfter));
      return `You can try again in ${seconds} second${seconds === 1 ? "" : "s"}.`;
    }
    if (this.retryable) return "This may be temporary: try again in a moment.";
    return "";
  }
}

/** Turn anything thrown into an ApiError-like object with a message and a hint. */
export function asApiError(error) {
  if (error instanceof ApiError) return error;
  const message = error && error.message ? error.message : String(error);
  return new ApiError(0, "client_error", message, false, null);
}

function retryAfterHeader(response) {
  const value = response.headers.get("Retry-After");
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, (date - Date.now()) / 1000) : null;
}

/**
 * The URL of an API path on the API base. Paths are root-relative ("/api/agents", and the status
 * URLs the API returns); a protocol-relative "//host/..." is refused, since it would send the
 * bearer token to whatever host it names when the API is on this origin.
 * @param {string} base "" for this origin, else the API's origin (and path prefix), no trailing "/"
 * @param {string} path
 */
export function apiUrl(base, path) {
  if (typeof path !== "string" || !path.startsWith("/") || path.startsWith("//")) {
    throw new TypeError(`not an API path: ${path}`);
  }
  return base + path;
}

/**
 * @param {{getToken: () => Promise<string>, onUnauthorized?: () => Promise<boolean>}} auth
 *   getToken returns a valid bearer token; onUnauthorized renews it after a 401 (true: retry).
 * @param {string} base where the API is: "" for this origin (see web/src/apibase.js)
 */
export function createApi(auth, base = "") {
  /**
   * @param {string} path API path, e.g. /api/agents
   * @param {{method?: string, body?: unknown, anonymous?: boolean, signal?: AbortSignal}} options
   * @returns {Promise<{status: number, data: any}>}
   */
  async function request(path, options = {}) {
    const { method = "GET", body, anonymous = false, signal } = options;
    for (let attempt = 0; ; attempt += 1) {
      const headers = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (!anonymous) headers.Authorization = `Bearer ${await auth.getToken()}`;
      let response;
      try {
        response = await fetch(apiUrl(base, path), {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          cache: "no-store",
          // The bearer token is the only credential, also on another origin: no cookies, so the
          // Function App's CORS needs no Allow-Credentials.
          credentials: "same-origin",
          signal,
        });
      } catch (error) {
        if (error && error.name === "AbortError") throw error;
        throw new ApiError(
          0,
          "unreachable",
          "The service cannot be reached. Check the network connection.",
          true,
        );
      }
      const text = await response.text();
      let data = null;
      if (text) {
        try {
          data = JSON.parse(text);
        } catch {
          data = null;
        }
      }
      if (response.ok) return { status: response.status, data };
      if (response.status === 401 && !anonymous && attempt === 0 && auth.onUnauthorized) {
        if (await auth.onUnauthorized()) continue;
      }
      const error = data && typeof data === "object" ? data.error : null;
      if (error && typeof error.message === "string") {
        throw new ApiError(
          response.status,
          String(error.code || "error"),
          error.message,
          Boolean(error.retryable),
          error.retryAfter ?? retryAfterHeader(response),
        );
      }
      throw new ApiError(
        response.status,
        `http_${response.status}`,
        `The request failed (HTTP ${response.status}).`,
        response.status >= 500 || response.status === 429,
        retryAfterHeader(response),
      );
    }
  }
  return { request };
}
