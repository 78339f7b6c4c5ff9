// The tab's colours (TensorBoard's orange accent and slate), shared by the charts, for each
// theme: `palette(dark)`; views read the current one with useColors() (theme.ts), so a
// switch of TensorBoard's dark mode re-colours every chart.

export interface Palette {
  dark: boolean;
  ORANGE: string;
  /** Lighter on a dark page. */
  SLATE: string;
  GREY: string;
  /** A card's background (styles.ts): borders and label backgrounds drawn "in the page colour". */
  CARD_BG: string;
  /** The selected layer, in every chart that draws layers (the table's row has the same mark). */
  SELECTED: string;
  /** Text in the selected colour, readable on the page (lighter on a dark one). */
  SELECTED_TEXT: string;
  /** Compare mode's base and run: neither orange nor slate, which mean forward and gradient elsewhere. */
  BASE_COLOR: string;
  RUN_COLOR: string;
  /** One colour per series (the trend's layers). */
  PALETTE: string[];
  /** The step breakdown's colour per category. */
  BREAKDOWN_COLORS: Record<string, string>;
}

function make(dark: boolean): Palette {
  const ORANGE = "#f57c00";
  const SLATE = dark ? "#8a9ab5" : "#425066";
  const GREY = "#9e9e9e";
  return {
    dark,
    ORANGE,
    SLATE,
    GREY,
    CARD_BG: dark ? "#3a3a3a" : "#ffffff",
    SELECTED: "#d50000",
    SELECTED_TEXT: dark ? "#ff6e6e" : "#d50000",
    BASE_COLOR: GREY,
    RUN_COLOR: dark ? "#7986cb" : "#3f51b5",
    PALETTE: [ORANGE, "#1976d2", "#388e3c", "#7b1fa2", "#c2185b", "#0097a7", "#5d4037", "#fbc02d", SLATE, "#e64a19"],
    BREAKDOWN_COLORS: {
      layers_forward: ORANGE,
      layers_gradient: SLATE,
      optimizer_us: "#1976d2",
      loss_us: "#7b1fa2",
      input_us: "#388e3c",
      metrics_us: "#0097a7",
      collective_us: "#c2185b",
      framework_us: GREY,
      unattributed_us: "#bdbdbd",
    },
  };
}

const LIGHT = make(false);
const DARK = make(true);

/** The colours of the light or the dark theme (the same object each time: a memo key). */
export const palette = (dark: boolean): Palette => (dark ? DARK : LIGHT);

/** `a` mixed with `b` ("#rrggbb" both): share `t` of `a` (an opaque tint of a colour on a page). */
export function mix(a: string, b: string, t: number): string {
  const ch = (hex: string, i: number) => parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16);
  return "#" + [0, 1, 2].map((i) => Math.round(ch(a, i) * t + ch(b, i) * (1 - t)).toString(16).padStart(2, "0")).join("");
}
