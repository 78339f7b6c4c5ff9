// Requests to the plugin's routes (docs/http_api.md). Relative to the bundle's own URL,
// so it works under any TensorBoard --path_prefix. Every failure becomes an ApiError with
// a message fit for the user; a request never hangs forever (timeout).
import { Params, withQuery } from "../models/links";

export class ApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

const TIMEOUT_MS = 60000;

/** Absolute URL of a plugin route (the bundle lives in <plugin>/static/). */
export function routeUrl(route: string, params: Params = {}): string {
  return withQuery(new URL(`../${route}`, import.meta.url).toString(), params);
}

type Started = { response: Promise<Response>; ctrl: AbortController; timer: ReturnType<typeof setTimeout> };

function start(url: string): Started {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  return { response: fetch(url, { signal: ctrl.signal, headers: { Accept: "application/json" } }), ctrl, timer };
}

// Requests started before the app renders (prefetch), each taken by the first getJson of its URL.
const early = new Map<string, Started>();

/** Starts GETting `url` now (e.g. /runs, while the page is still being built); the first
 * getJson of the same URL gets its answer instead of asking again. */
export function prefetch(url: string): void {
  if (!early.has(url)) early.set(url, start(url));
}

/** GETs a route's URL (from routeUrl) and parses its JSON; `route` names it in messages. */
export async function getJson<T>(url: string, route: string): Promise<T> {
  const started = early.get(url) || start(url);
  early.delete(url);
  const { timer } = started;
  let resp: Response;
  try {
    resp = await started.response;
  } catch (e) {
    clearTimeout(timer);
    const aborted = (e as Error).name === "AbortError";
    throw new ApiError(aborted ? `The request for ${route} timed out.` : `Could not reach TensorBoard (${(e as Error).message}). Is it still running?`, 0);
  }
  try {
    const text = await resp.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!resp.ok) {
      const msg = body && body.error && typeof body.error.message === "string" ? body.error.message : `HTTP ${resp.status}`;
      throw new ApiError(msg, resp.status);
    }
    if (body === null) throw new ApiError(`The server sent an unreadable answer for ${route}.`, resp.status);
    return body as T;
  } finally {
    clearTimeout(timer);
  }
}
