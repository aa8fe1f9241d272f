// Builds the widget's browser code into ../glm_notebook/static/ (committed, loaded by anywidget):
// stream_view.js (one ES module with marked and DOMPurify inside) and stream_view.css.
// Run: npm ci && npm run build
import { readFileSync } from "node:fs";
import { build } from "esbuild";

const version = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8")).version;

const outdir = new URL("../glm_notebook/static/", import.meta.url).pathname;

await build({
  entryPoints: ["src/stream_view.js"],
  bundle: true,
  format: "esm",
  target: ["es2020"],
  platform: "browser",
  minify: true,
  legalComments: "eof", // keep DOMPurify's licence header; marked's is not marked as legal, so:
  banner: { js: `/*! glm_notebook stream view. Bundles marked ${version("marked")} (MIT License, https://github.com/markedjs/marked) and DOMPurify ${version("dompurify")} (Apache-2.0 or MPL-2.0). */` },
  outfile: `${outdir}stream_view.js`,
  logLevel: "info",
});

await build({
  entryPoints: ["src/stream_view.css"],
  bundle: true,
  minify: true,
  outfile: `${outdir}stream_view.css`,
  logLevel: "info",
});
