// Where the API is. Locally the devhost serves this page next to /api, so it is this origin. In
// Azure, Static Web Apps serves only web/ and the API is the Function App on its own origin: a
// `config.json` next to index.html, written at deploy time by scripts/write-web-config.mjs, names
// it as {"apiBaseUrl": "https://<app>.azurewebsites.net"}. No file (404) means this origin. A
// malformed file is refused with a message that says what is wrong: a silent fallback to this
// origin would only surface later as "the client settings could not be loaded".

import { ApiError } from "./api.js";

export const CONFIG_FILE = "config.json";
const SETTINGS = new Set(["apiBaseUrl"]);

function invalid(problem) {
  return new ApiError(0, "invalid_config", `This site's ${CONFIG_FILE} is malformed: ${problem}.`, false);
}

/**
 * The API base from config.json's text: "" for this origin, else an origin with an optional path
 * prefix and no trailing "/", to which API paths ("/api/...") are appended.
 * @param {string} text
 * @returns {string}
 */
export function parseApiBase(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    throw invalid("it is not valid JSON");
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) throw invalid("it must hold a JSON object");
  // A misspelt name (apiBaseURL) must not quietly mean "this origin".
  const unknown = Object.keys(data).filter((name) => !SETTINGS.has(name));
  if (unknown.length) throw invalid(`unknown setting ${unknown.map((name) => `"${name}"`).join(", ")} (the only one is "apiBaseUrl")`);
  if (!("apiBaseUrl" in data)) return "";
  const value = data.apiBaseUrl;
  if (typeof value !== "string") throw invalid(`"apiBaseUrl" must be a string, not ${JSON.stringify(value)}`);
  if (value === "") return "";
  let url;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`"apiBaseUrl" must be an absolute http(s) URL, not "${value}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalid(`"apiBaseUrl" must be an http(s) URL, not "${value}"`);
  }
  if (value.includes("?") || value.includes("#")) throw invalid(`"apiBaseUrl" must have no query or fragment, not "${value}"`);
  if (url.username || url.password) throw invalid('"apiBaseUrl" must not hold a user name or password');
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/**
 * Read config.json next to index.html (a relative URL, like the page's other files).
 * @param {typeof fetch} fetchImpl
 * @returns {Promise<string>} the API base ("" for this origin)
 */
export async function loadApiBase(fetchImpl = globalThis.fetch) {
  let response;
  try {
    response = await fetchImpl(CONFIG_FILE, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch {
    throw new ApiError(0, "unreachable", `This site's ${CONFIG_FILE} could not be loaded. Check the network connection.`, true);
  }
  if (response.status === 404) return "";
  if (!response.ok) {
    throw new ApiError(
      response.status,
      `http_${response.status}`,
      `This site's ${CONFIG_FILE} could not be loaded (HTTP ${response.status}).`,
      response.status >= 500,
    );
  }
  return parseApiBase(await response.text());
}
