// Builds the widget's browser code into ../glm_notebook/static/ (committed, loaded by the kernel):
// stream_view.js (one ES module with marked, DOMPurify and the view's CSS inside; the kernel sends
// it to the page in a message) and stream_view_loader.js (the widget's `_esm`, ~1 KB: it is saved in
// notebooks with the widget state, so it only imports the code it is sent; see src/loader.js).
// Run: npm ci && npm run build
// `node build.mjs DIR` writes into DIR instead: `make js-bundle` builds into a temporary directory
// and compares it with the committed files. The output depends only on js/src and the locked
// package versions (no paths, dates or hashes of this machine), so the comparison is exact.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { build } from "esbuild";

const here = new URL(".", import.meta.url).pathname;
const version = (name) => JSON.parse(readFileSync(`${here}node_modules/${name}/package.json`, "utf8")).version;

const outdir = process.argv[2]
  ? `${resolve(process.argv[2])}/`
  : new URL("../glm_notebook/static/", import.meta.url).pathname;
const logLevel = process.argv[2] ? "warning" : "info"; // the check prints problems only

// The CSS, minified, goes into the view's module as a string (injected once per page).
const css = await build({
  absWorkingDir: here,
  entryPoints: ["src/stream_view.css"],
  bundle: true,
  minify: true,
  write: false,
  logLevel,
});

await build({
  absWorkingDir: here, // entry points resolve from js/ whatever the caller's directory
  entryPoints: ["src/stream_view.js"],
  bundle: true,
  format: "esm",
  target: ["es2020"],
  platform: "browser",
  minify: true,
  define: { __STREAM_VIEW_CSS__: JSON.stringify(css.outputFiles[0].text.trim()) },
  legalComments: "eof", // keep DOMPurify's licence header; marked's is not marked as legal, so:
  banner: { js: `/*! glm_notebook stream view. Bundles marked ${version("marked")} (MIT License, https://github.com/markedjs/marked) and DOMPurify ${version("dompurify")} (Apache-2.0 or MPL-2.0). */` },
  outfile: `${outdir}stream_view.js`,
  logLevel,
});

await build({
  absWorkingDir: here,
  entryPoints: ["src/loader.js"],
  bundle: true,
  format: "esm",
  target: ["es2020"],
  platform: "browser",
  minify: true,
  outfile: `${outdir}stream_view_loader.js`,
  logLevel,
});
