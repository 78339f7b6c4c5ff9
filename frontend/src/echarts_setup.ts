// ECharts, imported modularly (only what the tab uses). Loaded on demand by chart.tsx as a
// separate chunk, after the layers table is on screen, so it never delays the table.
import { init as initChart, use } from "echarts/core";
import type { ECharts as EChartsInstance } from "echarts/core";
import { BarChart, CustomChart, LineChart, ScatterChart } from "echarts/charts";
import {
  DataZoomInsideComponent,
  DataZoomSliderComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

use([
  BarChart,
  CustomChart,
  LineChart,
  ScatterChart,
  DataZoomInsideComponent,
  DataZoomSliderComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  CanvasRenderer,
]);

export const init = initChart;
export type ECharts = EChartsInstance;
