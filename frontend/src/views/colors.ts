// The tab's colours (TensorBoard's orange accent and slate), shared by the charts; the
// slate is lighter on a dark page (prefers-color-scheme, as the CSS and EChart follow).
const dark = typeof window !== "undefined" && typeof window.matchMedia === "function" && window.matchMedia("(prefers-color-scheme: dark)").matches;
export const ORANGE = "#f57c00";
export const SLATE = dark ? "#8a9ab5" : "#425066";
export const GREY = "#9e9e9e";
/** A card's background (styles.ts): borders and label backgrounds drawn "in the page colour". */
export const CARD_BG = dark ? "#3a3a3a" : "#ffffff";
/** The selected layer, in every chart that draws layers (the table's row has the same mark). */
export const SELECTED = "#d50000";
/** Text in the selected colour, readable on the page (lighter on a dark one). */
export const SELECTED_TEXT = dark ? "#ff6e6e" : SELECTED;
/** Compare mode's base and run: neither orange nor slate, which mean forward and gradient elsewhere. */
export const BASE_COLOR = GREY;
export const RUN_COLOR = dark ? "#7986cb" : "#3f51b5";
export const PALETTE = [ORANGE, "#1976d2", "#388e3c", "#7b1fa2", "#c2185b", "#0097a7", "#5d4037", "#fbc02d", SLATE, "#e64a19"];
export const BREAKDOWN_COLORS: Record<string, string> = {
  layers_forward: ORANGE,
  layers_gradient: SLATE,
  optimizer_us: "#1976d2",
  loss_us: "#7b1fa2",
  input_us: "#388e3c",
  metrics_us: "#0097a7",
  collective_us: "#c2185b",
  framework_us: GREY,
  unattributed_us: "#bdbdbd",
};

/** `a` mixed with `b` ("#rrggbb" both): share `t` of `a` (an opaque tint of a colour on a page). */
export function mix(a: string, b: string, t: number): string {
  const ch = (hex: string, i: number) => parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16);
  return "#" + [0, 1, 2].map((i) => Math.round(ch(a, i) * t + ch(b, i) * (1 - t)).toString(16).padStart(2, "0")).join("");
}
