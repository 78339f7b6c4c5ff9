// The "Hot layers" card: diagnoses, then the backend's hot layers (figures.hot_layers) as
// bars of own forward and gradient time. No figures from the server: no bars, not a guess.
import { useMemo } from "preact/hooks";
import type { Figures, Window } from "../api/types";
import { HotBar, basisNotes, hotBars } from "../models/figures";
import { fmtPct, fmtTime } from "../models/format";
import type { Tree } from "../models/tree";
import { diagnoses } from "../models/window";
import { Diagnoses } from "./Diagnoses";
import { EChart } from "./EChart";
import { useColors } from "./theme";

export function HotLayers(props: { w: Window; figures: Figures | null; tree: Tree; stepUs: number; onSelect: (path: string) => void }) {
  const { w, figures } = props;
  const diag = useMemo(() => diagnoses(w.layers), [w]);
  const bars = useMemo(() => hotBars(figures, w.layers), [figures, w]);
  let chart;
  if (!figures)
    chart = (
      <div class="lp-muted" data-testid="figures-missing">
        This TensorBoard's tb_layerprof sends no hot layers for this window (an older version): update it to see them.
      </div>
    );
  else if (!bars.length) chart = <div class="lp-muted">No layer time was recorded in this window.</div>;
  else
    chart = (
      <>
        <HotChart bars={bars} onSelect={props.onSelect} />
        <div class="lp-basis-note" data-testid="hot-basis">
          {`Bars: each layer's own forward and gradient time per step; labels: its share of the op time (${fmtTime(figures.op_time_us)})` +
            (basisNotes(props.stepUs, figures)!.table.includes("no step time") ? "." : ", not of the step time that % step uses.")}
        </div>
      </>
    );
  return (
    <section class="lp-card lp-hot" data-testid="hot-layers">
      <h2>Hot layers</h2>
      <Diagnoses items={diag} tree={props.tree} stepUs={props.stepUs} onSelect={props.onSelect} />
      {chart}
    </section>
  );
}

function HotChart(props: { bars: HotBar[]; onSelect: (path: string) => void }) {
  const { bars } = props;
  const { ORANGE, SLATE } = useColors();
  const option = useMemo(() => {
    const ls = bars.slice().reverse();
    const share = (i: number) => fmtPct(ls[i].share_of_op_time * 100);
    return {
      grid: { left: 8, right: 56, top: 28, bottom: 8, containLabel: true },
      legend: { top: 0, data: ["Forward (self)", "Gradient (self)"] },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v: number) => fmtTime(v) },
      xAxis: { type: "value", axisLabel: { formatter: (v: number) => fmtTime(v), hideOverlap: true } },
      // Labels answer clicks too (triggerEvent): a click on a bar or its name selects the layer.
      yAxis: { type: "category", triggerEvent: true, data: ls.map((l) => l.path), axisLabel: { width: 180, overflow: "truncate" } },
      series: [
        { name: "Forward (self)", type: "bar", stack: "t", data: ls.map((l) => l.forward_us), itemStyle: { color: ORANGE } },
        {
          name: "Gradient (self)",
          type: "bar",
          stack: "t",
          data: ls.map((l) => l.backward_us),
          itemStyle: { color: SLATE },
          // The backend's share of op time at the end of each bar.
          label: { show: true, position: "right", textBorderWidth: 0, formatter: (p: any) => share(p.dataIndex) },
        },
      ],
    };
  }, [bars, ORANGE, SLATE]);
  return (
    <EChart
      option={option}
      height={Math.max(140, 40 + bars.length * 26)}
      label="Hot layers: own forward and gradient time per step, share of op time"
      testId="hot-chart"
      onClick={(p: any) => {
        const ls = bars.slice().reverse();
        if (p && p.componentType === "yAxis" && typeof p.value === "string") props.onSelect(p.value);
        else if (p && typeof p.dataIndex === "number" && ls[p.dataIndex]) props.onSelect(ls[p.dataIndex].path);
      }}
      attrs={{ "data-layers": bars.map((b) => b.path).join("\n") }}
    />
  );
}
