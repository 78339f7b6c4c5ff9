// A Preact wrapper around one ECharts instance. ECharts (the bulk of the bundle) is a chunk
// of its own, imported on first use; charts are drawn one per task, after the page has
// painted, so the layers table is shown and answers clicks before any chart is drawn.
import { useEffect, useRef } from "preact/hooks";
import type { ECharts } from "../echarts_setup";
import { isDark, useDark } from "./theme";
import { deferred } from "./defer";

export const FONT = "Roboto, sans-serif";

/** A tooltip position beside the pointer, never under it (a canvas tooltip under the
 * pointer would take the click meant for the item). */
export function besidePointer(pt: number[], _p: any, _d: any, _r: any, size: { contentSize: number[]; viewSize: number[] }): number[] {
  const [w, h] = size.contentSize;
  const [vw, vh] = size.viewSize;
  const x = pt[0] + 16 + w <= vw || pt[0] - 16 - w < 0 ? pt[0] + 16 : pt[0] - 16 - w;
  return [x, Math.max(0, Math.min(vh - h, pt[1] - h / 2))];
}

/** ECharts' theme for the tab's (theme.ts: TensorBoard's dark mode, else the system's). */
const themeName = (dark: boolean) => (dark ? "dark" : "default");

type Lib = typeof import("../echarts_setup");
/** The ECharts module's file beside index.js ("./echarts_setup-<hash>.js", build.mjs). */
declare const __ECHARTS_MODULE__: string;
let lib: Promise<Lib> | null = null;
export function loadECharts(): Promise<Lib> {
  return lib || (lib = import(/* a separate build's output */ __ECHARTS_MODULE__) as Promise<Lib>);
}

/** Fetches (and lets the browser compile, off the main thread) the ECharts module without
 * running it: at hand when the deferred charts import it. */
let preloaded = false;
function preloadECharts(): void {
  if (preloaded || lib) return;
  preloaded = true;
  const link = document.createElement("link");
  link.rel = "modulepreload";
  link.href = new URL(__ECHARTS_MODULE__, import.meta.url).toString();
  document.head.appendChild(link);
}

// Chart work queued and run one job per macrotask (input events get in between).
const queue: (() => void)[] = [];
let pumping = false;
function pump() {
  const job = queue.shift();
  if (!job) {
    pumping = false;
    return;
  }
  try {
    job();
  } finally {
    setTimeout(pump, 0);
  }
}
function schedule(job: () => void) {
  queue.push(job);
  if (!pumping) {
    pumping = true;
    setTimeout(pump, 0);
  }
}

// ECharts is fetched, compiled and drawn as deferred work (defer.ts): once the table has been
// on screen a moment and the page is idle, so its first click is answered at once.

export function EChart(props: {
  option: any;
  height: number;
  label: string;
  testId: string;
  onClick?: (params: any) => void;
  attrs?: Record<string, string>;
  /** Makes the chart focusable (tab order) and answers keys. */
  onKeyDown?: (e: KeyboardEvent) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<ECharts | null>(null);
  const option = useRef<any>(null);
  const dark = useDark();
  const onClick = useRef(props.onClick);
  onClick.current = props.onClick;
  option.current = props.option;

  const apply = () => {
    const c = chart.current;
    const el = ref.current;
    if (!c || !el || option.current === null) return;
    // Tooltips drawn on the canvas (richText): layer names are user data, never HTML.
    const o = { textStyle: { fontFamily: FONT }, animation: false, backgroundColor: "transparent", ...option.current };
    o.tooltip = { renderMode: "richText", ...(option.current.tooltip || {}) };
    // The option's generation first: ECharts may draw (and say `finished`) inside setOption.
    el.dataset.rendered = String(Number(el.dataset.rendered || 0) + 1);
    c.setOption(o, true);
  };

  useEffect(() => {
    let live = true;
    let ro: ResizeObserver | null = null;
    preloadECharts();
    const cancel = deferred(() =>
      loadECharts().then((m) =>
        schedule(() => {
        const el = ref.current;
        if (!live || !el) return;
        // The theme now (it may have changed while ECharts loaded); later changes: setTheme below.
        const c = m.init(el, themeName(isDark()), { renderer: "canvas" });
        el.dataset.theme = themeName(isDark());
        chart.current = c;
        // The instance, for the browser tests (convertToPixel to click a given data item).
        (el as any).lpChart = c;
        c.on("click", (p: any) => onClick.current && onClick.current(p));
        // Large series are drawn progressively over several frames: `data-finished` catches
        // up with `data-rendered` (the option's generation) once everything is drawn.
        c.on("finished", () => {
          el.dataset.finished = el.dataset.rendered || "0";
        });
        // Only a real change of size redraws (the first notice, on observe, is the size the
        // chart was made at; a scrollbar coming and going is a real change).
        ro = new ResizeObserver(() => {
          const ch = chart.current;
          if (ch && (ch.getWidth() !== el.clientWidth || ch.getHeight() !== el.clientHeight)) ch.resize();
        });
        ro.observe(el);
          apply();
        }),
      ),
    );
    return () => {
      live = false;
      cancel();
      if (ro) ro.disconnect();
      if (chart.current) chart.current.dispose();
      chart.current = null;
      if (ref.current) (ref.current as any).lpChart = null;
    };
  }, []);
  // TensorBoard's dark mode switched: the same chart re-themed (its option, whose colours
  // follow the theme too, is applied again by the next effect).
  useEffect(() => {
    const c = chart.current;
    const el = ref.current;
    if (!c || !el || el.dataset.theme === themeName(dark)) return;
    c.setTheme(themeName(dark));
    el.dataset.theme = themeName(dark);
  }, [dark]);
  useEffect(() => {
    apply();
  }, [props.option]);
  useEffect(() => {
    chart.current && chart.current.resize();
  }, [props.height]);
  return (
    <div
      ref={ref}
      class="lp-chart"
      style={{ height: `${props.height}px` }}
      role="img"
      aria-label={props.label}
      data-testid={props.testId}
      {...(props.onKeyDown ? { tabIndex: 0, onKeyDown: props.onKeyDown } : {})}
      {...(props.attrs || {})}
    />
  );
}
