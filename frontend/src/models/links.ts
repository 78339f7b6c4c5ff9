// Links out of the tab: XProf's trace viewer (TensorBoard's profile plugin).

/** The profile plugin's name for a capture session: `<TensorBoard run>/<session>`, or just
 * `<session>` for the logdir's root run ".". Null when the window's profile directory is not
 * a session under `<run>/plugins/profile/`, where the profile plugin looks. */
export function profileRunName(run: string, profileDir: string | undefined): string | null {
  if (!profileDir) return null;
  const parts = profileDir.split(/[\\/]+/).filter((p) => p && p !== ".");
  if (parts.length !== 3 || parts[0] !== "plugins" || parts[1] !== "profile" || parts[2] === "..") return null;
  const session = parts[2];
  return run === "." || run === "" ? session : `${run}/${session}`;
}

/** TensorBoard URL that opens the profile plugin's trace viewer on one session and host:
 * `<TensorBoard root>?run=<run/session>&tag=trace_viewer%40&host=<host>#profile` (XProf
 * reads run, tag and host from the top window's query string). `root` is TensorBoard's
 * base URL (with any --path_prefix), e.g. "http://localhost:6006/". */
export function traceViewerUrl(root: string, run: string, profileDir: string | undefined, host: string): string | null {
  const profileRun = profileRunName(run, profileDir);
  if (profileRun === null) return null;
  const url = new URL(root);
  const p = new URLSearchParams();
  p.set("run", profileRun);
  p.set("tag", "trace_viewer@");
  if (host) p.set("host", host);
  url.search = p.toString();
  url.hash = "profile";
  return url.toString();
}

// -- the plugin's own routes ------------------------------------------------------------------

export type Params = Record<string, string | string[] | null | undefined>;

/** `base` with `params` as its query (URL-encoded; null/undefined skipped, arrays repeated). */
export function withQuery(base: string, params: Params): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) {
    if (v == null) continue;
    for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, item);
  }
  return url.toString();
}

/** The query of `/report` for one window as CSV (the backend's one CSV writer). */
export function reportCsvParams(run: string, step: number, host: string | null | undefined): Params {
  return { run, format: "csv", step: String(step), host: host ? host : null };
}

/** A file name stem for a window's exports: "layerprof-<run>-step<N>", run made file-safe. */
export function exportFileBase(run: string, step: number): string {
  const safe = run.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80) || "run";
  return `layerprof-${safe}-step${step}`;
}

/** A request TensorBoard's page makes on each reload (button or auto-reload): its run list,
 * `data/runs` (also under `experiment/<id>/`), with any --path_prefix. Never the tab's own. */
export function isTensorBoardReload(url: string): boolean {
  let path: string;
  try {
    path = new URL(url, "http://x/").pathname;
  } catch {
    return false;
  }
  return /\/data\/runs$/.test(path) && !path.includes("/data/plugin/");
}
