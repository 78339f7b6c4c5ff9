// Work that can wait until the layers table is on screen: a component renders its card at
// once and computes its model (a chart's thousands of spans or points) right after the
// browser has painted, so the table is shown and answers clicks first.
import { useEffect, useState } from "preact/hooks";

/** False on the first render, true from the render after the next paint on. */
export function useAfterPaint(): boolean {
  const [ready, setReady] = useState(false);
  useEffect(() => {
    if (ready) return;
    let timer = 0;
    // requestAnimationFrame runs before the paint; the timeout after it, once painted.
    const frame = requestAnimationFrame(() => {
      timer = window.setTimeout(() => setReady(true), 0);
    });
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, []);
  return ready;
}
