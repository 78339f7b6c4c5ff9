// Data hooks: the one fetch effect of the tab (every route goes through useFetch) and the
// view state kept in the iframe's URL hash.
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError, getJson, routeUrl } from "./client";
import type { Params } from "../models/links";
import { ViewState, formatHash, parseHash } from "../models/urlstate";

/** A request's state: nothing asked, under way, failed (message for the user) or answered. */
export type Load<T> = { status: "idle" } | { status: "loading" } | { status: "error"; message: string } | { status: "ok"; data: T };

const IDLE: Load<never> = { status: "idle" };
const LOADING: Load<never> = { status: "loading" };

/** GETs `route` with `params` (null route: nothing is asked) and again whenever the URL or
 * `reloadKey` changes. An answer to an earlier URL is never returned for the current one;
 * while the same URL is asked again (a reload), its last answer stays shown until the new
 * one comes, so a reload does not blank the view (nor lose its scroll and open cards). */
export function useFetch<T>(route: string | null, params: Params = {}, reloadKey = 0): Load<T> {
  const url = route === null ? null : routeUrl(route, params);
  const [got, setGot] = useState<{ url: string | null; load: Load<T> }>({ url: null, load: IDLE });
  useEffect(() => {
    if (url === null || route === null) return;
    let live = true;
    setGot((g) => (g.url === url && g.load.status === "ok" ? g : { url, load: LOADING }));
    getJson<T>(url, route)
      .then((data) => live && setGot({ url, load: { status: "ok", data } }))
      .catch((e: ApiError) => live && setGot({ url, load: { status: "error", message: e.message } }));
    return () => {
      live = false;
    };
  }, [url, reloadKey]);
  if (url === null) return IDLE;
  return got.url === url ? got.load : LOADING;
}

/** The view state, read from and written to the URL hash (replaceState: no history spam). */
export function useHashState(): [ViewState, (patch: Partial<ViewState>) => void] {
  const [state, setState] = useState<ViewState>(() => parseHash(location.hash));
  useEffect(() => {
    const onHash = () => setState(parseHash(location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  const update = useCallback((patch: Partial<ViewState>) => {
    setState((prev) => {
      const next = { ...prev, ...patch };
      history.replaceState(null, "", location.pathname + location.search + formatHash(next));
      return next;
    });
  }, []);
  return [state, update];
}
