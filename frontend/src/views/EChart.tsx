// A Preact wrapper around one ECharts instance. ECharts (the bulk of the bundle) is a chunk
// of its own, imported on first use; charts are drawn one per task, after the page has
// painted, so the layers table is shown and answers clicks before any chart is drawn.
import { useEffect, useRef } from "preact/hooks";
import type { ECharts } from "../echarts_setup";

export const FONT = "Roboto, sans-serif";

/** A tooltip position beside the pointer, never under it (a canvas tooltip under the
 * pointer would take the click meant for the item). */
export function besidePointer(pt: number[], _p: any, _d: any, _r: any, size: { contentSize: number[]; viewSize: number[] }): number[] {
  const [w, h] = size.contentSize;
  const [vw, vh] = size.viewSize;
  const x = pt[0] + 16 + w <= vw || pt[0] - 16 - w < 0 ? pt[0] + 16 : pt[0] - 16 - w;
  return [x, Math.max(0, Math.min(vh - h, pt[1] - h / 2))];
}

/** The system asks for dark colours (the tab's CSS follows it too): ECharts' dark theme. */
const prefersDark = () => typeof window.matchMedia === "function" && window.matchMedia("(prefers-color-scheme: dark)").matches;

type Lib = typeof import("../echarts_setup");
let lib: Promise<Lib> | null = null;
export function loadECharts(): Promise<Lib> {
  return lib || (lib = import("../echarts_setup"));
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

// ECharts is fetched and compiled when the page is idle (the table drawn, no input pending).
const idle: (cb: () => void) => void =
  typeof (window as any).requestIdleCallback === "function"
    ? (cb) => (window as any).requestIdleCallback(cb, { timeout: 500 })
    : (cb) => setTimeout(cb, 50);

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
    c.setOption(o, true);
    el.dataset.rendered = String(Number(el.dataset.rendered || 0) + 1);
  };

  useEffect(() => {
    let live = true;
    let ro: ResizeObserver | null = null;
    idle(() =>
      loadECharts().then((m) =>
        schedule(() => {
        const el = ref.current;
        if (!live || !el) return;
        const c = m.init(el, prefersDark() ? "dark" : undefined, { renderer: "canvas" });
        chart.current = c;
        // The instance, for the browser tests (convertToPixel to click a given data item).
        (el as any).lpChart = c;
        c.on("click", (p: any) => onClick.current && onClick.current(p));
        // Large series are drawn progressively over several frames: `data-finished` catches
        // up with `data-rendered` (the option's generation) once everything is drawn.
        c.on("finished", () => {
          el.dataset.finished = el.dataset.rendered || "0";
        });
        ro = new ResizeObserver(() => chart.current && chart.current.resize());
        ro.observe(el);
          apply();
        }),
      ),
    );
    return () => {
      live = false;
      if (ro) ro.disconnect();
      if (chart.current) chart.current.dispose();
      chart.current = null;
      if (ref.current) (ref.current as any).lpChart = null;
    };
  }, []);
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
