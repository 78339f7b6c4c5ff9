// Following TensorBoard's reload (its reload button and its auto-reload): the tab's iframe
// is served by the same TensorBoard, so it can watch the page that holds it. Each reload
// makes TensorBoard's page fetch its run list (`…/data/runs`) and plugin listing; the
// parent page's resource timing reports those fetches, and the tab reloads its own data.
// TensorBoard's plugin message channel only announces a changed *set of runs*, not a new
// window in a run, so it cannot serve here. Outside TensorBoard (the iframe URL opened on
// its own, or a cross-origin parent) nothing is watched and the Refresh button remains.
import { useEffect, useRef } from "preact/hooks";
import { isTensorBoardReload } from "../models/links";

const SETTLE_MS = 250;

export function useTensorBoardReload(onReload: () => void): void {
  const cb = useRef(onReload);
  cb.current = onReload;
  useEffect(() => {
    let parentWin: any;
    try {
      parentWin = window.parent !== window ? window.parent : null;
      // Throws when the parent is another origin.
      if (parentWin && !parentWin.location.href) parentWin = null;
    } catch {
      parentWin = null;
    }
    const Observer = parentWin && parentWin.PerformanceObserver;
    if (typeof Observer !== "function") return;
    let timer: number | undefined;
    let obs: PerformanceObserver | null = null;
    try {
      obs = new Observer((list: PerformanceObserverEntryList) => {
        if (!list.getEntries().some((e) => isTensorBoardReload(e.name))) return;
        // One reload fetches several things: act once, after they are under way.
        clearTimeout(timer);
        timer = window.setTimeout(() => cb.current(), SETTLE_MS);
      });
      obs!.observe({ type: "resource", buffered: false });
    } catch {
      obs = null;
    }
    return () => {
      clearTimeout(timer);
      if (obs) obs.disconnect();
    };
  }, []);
}
