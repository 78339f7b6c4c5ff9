// Text widths in pixels, as a canvas draws them: room for chart labels that ECharts'
// containLabel does not count (a bar's value label past its end).
import { FONT } from "./EChart";

let ctx: CanvasRenderingContext2D | null | undefined;

/** The widest of `texts` in `size` px of the charts' font (a rough estimate without canvas). */
export function textWidth(texts: string[], size = 12): number {
  if (ctx === undefined) ctx = typeof document !== "undefined" ? document.createElement("canvas").getContext("2d") : null;
  let w = 0;
  for (const t of texts) {
    if (ctx) {
      ctx.font = `${size}px ${FONT}`;
      w = Math.max(w, ctx.measureText(t).width);
    } else w = Math.max(w, t.length * size * 0.6);
  }
  return Math.ceil(w);
}
