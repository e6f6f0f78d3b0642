// Bundles the browser client with esbuild: web/src -> web/dist (gitignored); writes web/config.json
// (gitignored) when there is none.
// `npm run build` runs it; `node web/build.mjs --watch` rebuilds on change.
// Everything the page loads comes from this folder: no CDN, no external URL at run time.
import { context } from "esbuild";
import { existsSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const watch = process.argv.includes("--watch");

// The page reads config.json to find its API (src/apibase.js). Without one the browser logs a 404
// on every load, so the build writes the same-origin one; a file already there (the one the
// deploy hook scripts/write-web-config.mjs wrote, or a developer's own) is left alone.
const config = path.join(here, "config.json");
if (!existsSync(config)) writeFileSync(config, `${JSON.stringify({ apiBaseUrl: "" }, null, 2)}\n`);

const ctx = await context({
  absWorkingDir: here,
  entryPoints: {
    app: "src/main.js",
    // The AudioWorklet processor is its own module (loaded with audioWorklet.addModule).
    "pcm-worklet": "src/pcm-worklet.js",
  },
  outdir: "dist",
  bundle: true,
  splitting: true, // MSAL is loaded only when Microsoft sign-in is configured
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome111", "firefox113", "safari16"],
  minify: !watch,
  sourcemap: "linked",
  legalComments: "linked",
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "info",
});
if (watch) {
  await ctx.watch();
} else {
  await ctx.rebuild();
  await ctx.dispose();
}
