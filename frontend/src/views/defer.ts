// Work that can wait until the layers table is on screen and has answered a first click:
// the charts (ECharts, fetched and compiled on first use) and their models (thousands of
// spans or points). The tab renders its cards at once; this work starts DEFER_MS after the
// first such card was rendered (the tab's first view), when the page is idle; later views
// (another window, a reload) only wait for idle time.
import { useEffect, useState } from "preact/hooks";

export const DEFER_MS = 300;
let firstAsked: number | null = null;

const whenIdle = (cb: () => void): (() => void) => {
  const w = window as any;
  if (typeof w.requestIdleCallback === "function") {
    const id = w.requestIdleCallback(cb, { timeout: 500 });
    return () => w.cancelIdleCallback(id);
  }
  const id = setTimeout(cb, 50);
  return () => clearTimeout(id);
};

/** Runs `cb` once DEFER_MS have passed since the first deferred work was asked for, when the
 * page is idle; returns a function that cancels it. */
export function deferred(cb: () => void): () => void {
  const now = performance.now();
  if (firstAsked === null) firstAsked = now;
  let cancelIdle: (() => void) | null = null;
  const timer = setTimeout(() => {
    cancelIdle = whenIdle(cb);
  }, Math.max(0, firstAsked + DEFER_MS - now));
  return () => {
    clearTimeout(timer);
    if (cancelIdle) cancelIdle();
  };
}

/** False until the deferred work of this component may run (see `deferred`), then true. */
export function useDeferred(): boolean {
  const [ready, setReady] = useState(false);
  useEffect(() => (ready ? undefined : deferred(() => setReady(true))), []);
  return ready;
}
