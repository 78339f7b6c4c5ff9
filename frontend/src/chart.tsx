// A Preact wrapper around one ECharts instance (modular import: only what we use is bundled).
import { useEffect, useRef } from "preact/hooks";
import * as echarts from "echarts/core";
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export const FONT = "Roboto, sans-serif";

export function EChart(props: { option: any; height: number; label: string; testId: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    const el = ref.current!;
    chart.current = echarts.init(el, undefined, { renderer: "canvas" });
    const ro = new ResizeObserver(() => chart.current && chart.current.resize());
    ro.observe(el);
    return () => {
      ro.disconnect();
      chart.current && chart.current.dispose();
      chart.current = null;
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
  return <div ref={ref} class="lp-chart" style={{ height: `${props.height}px` }} role="img" aria-label={props.label} data-testid={props.testId} />;
}
