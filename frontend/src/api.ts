// Requests to the plugin's routes (docs/http_api.md). Relative to the bundle's own URL,
// so it works under any TensorBoard --path_prefix. Every failure becomes an ApiError with
// a message fit for the user; a request never hangs forever (timeout).

export class ApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

const TIMEOUT_MS = 60000;

export function routeUrl(route: string, params: Record<string, string | string[] | null | undefined> = {}): string {
  const url = new URL(`../${route}`, import.meta.url);
  for (const [k, v] of Object.entries(params)) {
    if (v == null) continue;
    for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, item);
  }
  return url.toString();
}

export async function getJson<T>(route: string, params: Record<string, string | string[] | null | undefined> = {}): Promise<T> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let resp: Response;
  try {
    resp = await fetch(routeUrl(route, params), { signal: ctrl.signal, headers: { Accept: "application/json" } });
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
