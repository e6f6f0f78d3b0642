// Writes web/config.json, which tells the browser client where its API is, from the API_BASE_URL
// output of infra/main.bicep. azd runs it as the `web` service's predeploy hook (azure.yaml): azd
// hands every output of the last provisioning to hooks as environment variables, and a predeploy
// hook runs after provisioning, even on the first `azd up` (a prepackage hook may run before it).
//
//   API_BASE_URL=https://<app>.azurewebsites.net/api node scripts/write-web-config.mjs [out-file]
//
// API_BASE_URL is the Function App's URL with its /api route prefix; the client's paths, and the
// status URLs the API returns, carry that prefix themselves, so config.json names the app's root.
// Anything but a plain https URL is refused: the page would only fail later, in every browser.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROUTE_PREFIX = "/api";

function refuse(message) {
  console.error(`write-web-config: ${message}`);
  process.exit(1);
}

/** The apiBaseUrl config.json holds, from API_BASE_URL; throws with the reason it is refused. */
function apiBaseFrom(value) {
  if (!value) {
    throw new Error("API_BASE_URL is not set: run `azd provision` first (it stores the output of infra/main.bicep).");
  }
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`API_BASE_URL is not a URL: "${value}".`);
  }
  if (url.protocol !== "https:") throw new Error(`API_BASE_URL must be an https URL, not "${value}".`);
  if (value.includes("?") || value.includes("#") || url.username || url.password) {
    throw new Error(`API_BASE_URL must have no query, fragment or credentials: "${value}".`);
  }
  const pathname = url.pathname.replace(/\/+$/, "");
  const root = pathname.endsWith(ROUTE_PREFIX) ? pathname.slice(0, -ROUTE_PREFIX.length) : pathname;
  return url.origin + root;
}

const out = process.argv[2] || path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "web", "config.json");
let apiBaseUrl;
try {
  apiBaseUrl = apiBaseFrom(process.env.API_BASE_URL);
} catch (error) {
  refuse(error.message);
}
writeFileSync(out, `${JSON.stringify({ apiBaseUrl }, null, 2)}\n`);
console.log(`write-web-config: ${out}: apiBaseUrl ${apiBaseUrl}`);
