// A Preact wrapper around one ECharts instance (modular import: only what we use is bundled).
import { useEffect, useRef } from "preact/hooks";
import * as echarts from "echarts/core";
import { BarChart, CustomChart, LineChart } from "echarts/charts";
import {
  DataZoomInsideComponent,
  DataZoomSliderComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  BarChart,
  CustomChart,
  LineChart,
  DataZoomInsideComponent,
  DataZoomSliderComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  CanvasRenderer,
]);

export const FONT = "Roboto, sans-serif";
export const graphic = echarts.graphic;

export function EChart(props: {
  option: any;
  height: number;
  label: string;
  testId: string;
  onClick?: (params: any) => void;
  attrs?: Record<string, string>;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const onClick = useRef(props.onClick);
  onClick.current = props.onClick;
  useEffect(() => {
    const el = ref.current!;
    const c = echarts.init(el, undefined, { renderer: "canvas" });
    chart.current = c;
    // The instance, for the browser tests (convertToPixel to click a given data item).
    (el as any).lpChart = c;
    c.on("click", (p: any) => onClick.current && onClick.current(p));
    // Large series are drawn progressively over several frames: `data-finished` catches up
    // with `data-rendered` (the option's generation) once everything is drawn.
    c.on("finished", () => {
      el.dataset.finished = el.dataset.rendered || "0";
    });
    const ro = new ResizeObserver(() => chart.current && chart.current.resize());
    ro.observe(el);
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = null;
      (el as any).lpChart = null;
    };
  }, []);
  useEffect(() => {
    if (!chart.current) return;
    // Tooltips drawn on the canvas (richText): layer names are user data, never HTML.
    const option = { textStyle: { fontFamily: FONT }, animation: false, ...props.option };
    option.tooltip = { renderMode: "richText", ...(props.option.tooltip || {}) };
    chart.current.setOption(option, true);
    ref.current!.dataset.rendered = String(Number(ref.current!.dataset.rendered || 0) + 1);
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
      {...(props.attrs || {})}
    />
  );
}
