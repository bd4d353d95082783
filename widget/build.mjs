// Builds the widget into one file: bot/console/static/widget/widget.js (git-ignored; `make widget`).
// The CSS and the UI strings are checked and compiled into the script: one request, no inline
// script or style on the page (the styles go into a constructed stylesheet of a shadow root).
import { build } from "esbuild";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const outfile = join(here, "..", "bot", "console", "static", "widget", "widget.js");
const MAX_GZIP_BYTES = 100 * 1024;

// Every UI text in every language, or no build.
const source = JSON.parse(readFileSync(join(here, "src", "strings.json"), "utf8"));
const languages = Object.keys(source.languages);
const strings = Object.fromEntries(languages.map((lang) => [lang, {}]));
const problems = [];
for (const [key, entry] of Object.entries(source.texts)) {
  for (const lang of languages) {
    const value = entry[lang];
    if (!value || typeof value.text !== "string" || !value.text.trim()) {
      problems.push(`${key}: no ${lang} text`);
    } else if (typeof value.reviewed !== "boolean") {
      problems.push(`${key}.${lang}: reviewed must be true or false`);
    } else {
      strings[lang][key] = value.text;
    }
  }
}
if (problems.length) {
  console.error(`widget/src/strings.json:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}

const css = await build({
  entryPoints: [join(here, "src", "widget.css")],
  bundle: true,
  minify: true,
  write: false,
  target: ["chrome64", "safari15", "firefox68"],
});

mkdirSync(dirname(outfile), { recursive: true });
await build({
  entryPoints: [join(here, "src", "index.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2017", "chrome64", "safari15", "firefox68"],
  outfile,
  legalComments: "eof",
  define: {
    __WIDGET_CSS__: JSON.stringify(css.outputFiles[0].text),
    __WIDGET_STRINGS__: JSON.stringify(strings),
    __WIDGET_LANGUAGES__: JSON.stringify(source.languages),
  },
  logLevel: "warning",
});

// served as it is to browsers that take gzip (bot/console/widget.py): phones with little data
const bytes = readFileSync(outfile);
const compressed = gzipSync(bytes, { level: 9 });
writeFileSync(`${outfile}.gz`, compressed);
const gzipped = compressed.length;
console.log(
  `widget.js: ${statSync(outfile).size} bytes, ${gzipped} bytes gzipped ` +
    `(limit ${MAX_GZIP_BYTES})`,
);
if (gzipped > MAX_GZIP_BYTES) {
  console.error("widget.js is over the 100 KB gzipped budget");
  process.exit(1);
}
