// Where the client finds its API: config.json parsing (web/src/apibase.js), the URL of an API path
// (web/src/api.js), and the deploy-time writer of config.json (scripts/write-web-config.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { ApiError, apiUrl, createApi } from "../src/api.js";
import { loadApiBase, parseApiBase } from "../src/apibase.js";

const WRITER = fileURLToPath(new URL("../../scripts/write-web-config.mjs", import.meta.url));

function refusal(text) {
  try {
    parseApiBase(text);
  } catch (error) {
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "invalid_config");
    assert.equal(error.retryable, false);
    assert.match(error.message, /^This site's config\.json is malformed: /);
    return error.message;
  }
  assert.fail(`accepted: ${text}`);
}

test("no apiBaseUrl, or an empty one, means this origin", () => {
  assert.equal(parseApiBase("{}"), "");
  assert.equal(parseApiBase('{"apiBaseUrl": ""}'), "");
});

test("an absolute http(s) URL becomes the base, without a trailing slash", () => {
  assert.equal(parseApiBase('{"apiBaseUrl": "https://func-x.azurewebsites.net"}'), "https://func-x.azurewebsites.net");
  assert.equal(parseApiBase('{"apiBaseUrl": "https://func-x.azurewebsites.net/"}'), "https://func-x.azurewebsites.net");
  assert.equal(parseApiBase('{"apiBaseUrl": "http://127.0.0.1:7071"}'), "http://127.0.0.1:7071");
  assert.equal(parseApiBase('{"apiBaseUrl": "https://gw.example/voice/"}'), "https://gw.example/voice");
  assert.equal(parseApiBase('{"apiBaseUrl": "HTTPS://Func.Example:443"}'), "https://func.example");
});

test("malformed config.json is refused with what is wrong", () => {
  assert.match(refusal("{not json"), /not valid JSON/);
  assert.match(refusal(""), /not valid JSON/);
  assert.match(refusal("[]"), /JSON object/);
  assert.match(refusal('"https://x"'), /JSON object/);
  assert.match(refusal("null"), /JSON object/);
  assert.match(refusal('{"apiBaseURL": "https://x"}'), /unknown setting "apiBaseURL"/);
  assert.match(refusal('{"apiBaseUrl": 42}'), /must be a string, not 42/);
  assert.match(refusal('{"apiBaseUrl": null}'), /must be a string, not null/);
  assert.match(refusal('{"apiBaseUrl": "func-x.azurewebsites.net"}'), /absolute http\(s\) URL/);
  assert.match(refusal('{"apiBaseUrl": "/api"}'), /absolute http\(s\) URL/);
  assert.match(refusal('{"apiBaseUrl": "ftp://x.example"}'), /http\(s\) URL, not "ftp/);
  assert.match(refusal('{"apiBaseUrl": "javascript:alert(1)"}'), /http\(s\) URL/);
  assert.match(refusal('{"apiBaseUrl": "https://x.example/?code=1"}'), /no query or fragment/);
  assert.match(refusal('{"apiBaseUrl": "https://x.example/?"}'), /no query or fragment/);
  assert.match(refusal('{"apiBaseUrl": "https://x.example/#top"}'), /no query or fragment/);
  assert.match(refusal('{"apiBaseUrl": "https://me:pw@x.example"}'), /user name or password/);
});

test("an API path is appended to the base; anything else is refused", () => {
  assert.equal(apiUrl("", "/api/agents"), "/api/agents");
  assert.equal(apiUrl("https://f.example", "/api/messages/abc"), "https://f.example/api/messages/abc");
  assert.equal(apiUrl("https://gw.example/voice", "/api/config"), "https://gw.example/voice/api/config");
  for (const bad of ["api/agents", "https://other.example/api", "//other.example/api", undefined]) {
    assert.throws(() => apiUrl("https://f.example", bad), TypeError, String(bad));
  }
});

/** A fetch that answers with `status` and `body`, recording what it was asked. */
function fakeFetch(status, body = "") {
  const calls = [];
  const fetchImpl = async (url, options) => {
    calls.push({ url, options });
    return new Response(status === 204 ? null : body, { status });
  };
  return { fetchImpl, calls };
}

test("config.json is read next to the page; a missing one means this origin", async () => {
  const found = fakeFetch(200, '{"apiBaseUrl": "https://f.example"}');
  assert.equal(await loadApiBase(found.fetchImpl), "https://f.example");
  assert.equal(found.calls[0].url, "config.json");
  assert.equal(found.calls[0].options.cache, "no-store");

  assert.equal(await loadApiBase(fakeFetch(404, "Not found").fetchImpl), "");
});

test("an unreadable or malformed config.json is an error, never a silent fallback", async () => {
  await assert.rejects(loadApiBase(fakeFetch(500).fetchImpl), { code: "http_500", retryable: true });
  await assert.rejects(loadApiBase(fakeFetch(403).fetchImpl), { code: "http_403", retryable: false });
  await assert.rejects(loadApiBase(fakeFetch(200, "<!doctype html>").fetchImpl), { code: "invalid_config" });
  const offline = async () => {
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(loadApiBase(offline), { code: "unreachable", retryable: true });
});

test("every API request, status URLs included, goes to the API base with the bearer token", async (t) => {
  const seen = [];
  t.mock.method(globalThis, "fetch", async (url, options) => {
    seen.push({ url, options });
    return new Response('{"status": "running"}', { status: 200 });
  });
  const api = createApi({ getToken: async () => "tok" }, "https://f.example");
  await api.request("/api/agents");
  await api.request("/api/messages/inst-1"); // a statusUrl as the API returns it
  await api.request("/api/auth/dev-token", { method: "POST", body: {}, anonymous: true });

  assert.deepEqual(
    seen.map((call) => call.url),
    ["https://f.example/api/agents", "https://f.example/api/messages/inst-1", "https://f.example/api/auth/dev-token"],
  );
  assert.equal(seen[0].options.headers.Authorization, "Bearer tok");
  assert.equal(seen[2].options.headers.Authorization, undefined);
  // No cookies go to another origin: the Function App's CORS needs no credentials.
  assert.ok(seen.every((call) => call.options.credentials === "same-origin"));
});

function writeConfig(apiBaseUrl) {
  const out = path.join(mkdtempSync(path.join(tmpdir(), "web-config-")), "config.json");
  const env = { ...process.env };
  delete env.API_BASE_URL;
  if (apiBaseUrl !== undefined) env.API_BASE_URL = apiBaseUrl;
  const run = spawnSync(process.execPath, [WRITER, out], { env, encoding: "utf8" });
  return { run, out };
}

test("the deploy hook writes config.json from API_BASE_URL, without the /api route prefix", () => {
  for (const [given, expected] of [
    ["https://func-x.azurewebsites.net/api", "https://func-x.azurewebsites.net"],
    ["https://func-x.azurewebsites.net/api/", "https://func-x.azurewebsites.net"],
    ["https://func-x.azurewebsites.net", "https://func-x.azurewebsites.net"],
  ]) {
    const { run, out } = writeConfig(given);
    assert.equal(run.status, 0, run.stderr);
    const written = readFileSync(out, "utf8");
    assert.deepEqual(JSON.parse(written), { apiBaseUrl: expected });
    assert.equal(parseApiBase(written), expected); // what the page will read
  }
});

test("the deploy hook refuses a missing or non-https API_BASE_URL, writing nothing", () => {
  for (const [given, reason] of [
    [undefined, /API_BASE_URL is not set/],
    ["", /API_BASE_URL is not set/],
    ["func-x.azurewebsites.net/api", /not a URL/],
    ["http://func-x.azurewebsites.net/api", /must be an https URL/],
    ["https://func-x.azurewebsites.net/api?x=1", /no query, fragment or credentials/],
  ]) {
    const { run, out } = writeConfig(given);
    assert.equal(run.status, 1, String(given));
    assert.match(run.stderr, reason);
    assert.equal(existsSync(out), false);
  }
});
