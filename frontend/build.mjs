// Builds the frontend bundle into ../tb_layerprof/static (committed), deterministically.
//   node build.mjs                 -> ../tb_layerprof/static/index.js
//   node build.mjs --outdir DIR    -> DIR/index.js (check_bundle.sh compares with the committed one)
//   node build.mjs --tests         -> build/tests/*.test.mjs (run with node --test)
//   LP_NOMINIFY=1 node build.mjs   -> unminified (readable CPU profiles; never commit it)
import * as esbuild from "esbuild";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIdx = args.indexOf("--outdir");
const outdir = outIdx >= 0 ? args[outIdx + 1] : join(here, "..", "tb_layerprof", "static");

const common = {
  bundle: true,
  format: "esm",
  jsx: "automatic",
  jsxImportSource: "preact",
  logLevel: "warning",
  absWorkingDir: here,
};

if (args.includes("--tests")) {
  // Every src/**/*.test.ts, each to build/tests/<name>.test.mjs (names are unique).
  const walk = (dir) =>
    readdirSync(join(here, "src", dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".test.ts") ? [join(dir, e.name)] : [],
    );
  const tests = walk("");
  const outTests = join(here, "build", "tests");
  if (existsSync(outTests)) rmSync(outTests, { recursive: true });
  await esbuild.build({
    ...common,
    entryPoints: tests.map((f) => join(here, "src", f)),
    entryNames: "[name]",
    outdir: join(here, "build", "tests"),
    outExtension: { ".js": ".mjs" },
    platform: "node",
    target: "node18",
    external: ["node:*"],
  });
} else {
  // Chunks are content-hashed: drop the previous build's so only this build's files remain.
  if (existsSync(outdir))
    for (const f of readdirSync(outdir)) if (/\.js$|\.LEGAL\.txt$/.test(f)) rmSync(join(outdir, f));
  const browser = {
    ...common,
    outdir,
    platform: "browser",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    minify: !process.env.LP_NOMINIFY,
    legalComments: "linked",
    sourcemap: false,
    metafile: true,
    define: { "process.env.NODE_ENV": '"production"' },
  };
  // ECharts: a module of its own (content-hashed name), imported dynamically by index.js
  // relative to its own URL once the layers table is on screen. Two builds, not code
  // splitting: split, the two would share a tiny chunk that index.js must fetch before it
  // runs (one more request in a row before the tab starts).
  const charts = await esbuild.build({
    ...browser,
    entryPoints: { echarts_setup: join(here, "src", "echarts_setup.ts") },
    entryNames: "[name]-[hash]",
  });
  const chartsFile = Object.keys(charts.metafile.outputs).find((f) => f.endsWith(".js")).split("/").pop();
  // index.js is the module TensorBoard loads.
  const result = await esbuild.build({
    ...browser,
    entryPoints: { index: join(here, "src", "index.tsx") },
    entryNames: "[name]",
    define: { ...browser.define, __ECHARTS_MODULE__: JSON.stringify(`./${chartsFile}`) },
    external: ["./echarts_setup-*"],
  });
  for (const [k, v] of Object.entries(charts.metafile.outputs)) result.metafile.outputs[k] = v;
  // The licenses of everything vendored into the bundle, shipped beside it.
  const notices = ["preact", "echarts", "zrender", "tslib"].map((pkg) => {
    const dir = join(here, "node_modules", pkg);
    const file = readdirSync(dir).find((f) => /^LICEN[CS]E/i.test(f));
    const text = readFileSync(join(dir, file), "utf8");
    return `==== ${pkg} ====\n\n${text.trim()}\n`;
  });
  writeFileSync(join(outdir, "THIRD_PARTY_LICENSES.txt"), notices.join("\n"));
  for (const [file, o] of Object.entries(result.metafile.outputs))
    if (file.endsWith(".js")) console.log(`bundle: ${file.split("/").pop()} ${(o.bytes / 1024).toFixed(1)} KiB`);
  const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
  console.log(`bundle: ${outdir} (${(bytes / 1024).toFixed(1)} KiB in all, with legal notes)`);
}
