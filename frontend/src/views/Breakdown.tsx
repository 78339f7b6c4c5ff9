// The "Step breakdown" card: where a step's op time went (layers forward and gradient, then
// each `other` category), as shares of the backend's op time.
import { useMemo } from "preact/hooks";
import type { Figures, Window } from "../api/types";
import { basisNotes } from "../models/figures";
import { fmtPct, fmtTime } from "../models/format";
import { breakdown } from "../models/window";
import { EChart } from "./EChart";
import { textWidth } from "./measure";
import { useColors } from "./theme";

const LABEL_PX = 12;

export function Breakdown(props: { w: Window; figures: Figures | null; stepUs: number }) {
  const items = useMemo(() => breakdown(props.w), [props.w]);
  const { BREAKDOWN_COLORS, SLATE } = useColors();
  const notes = basisNotes(props.stepUs, props.figures);
  const opUs = props.figures ? props.figures.op_time_us : 0;
  const text = (us: number) => (opUs > 0 ? `${fmtTime(us)}  ${fmtPct((us / opUs) * 100)}` : fmtTime(us));
  const option = useMemo(() => {
    const rev = items.slice().reverse();
    // The value labels sit past the bars' ends: room for the widest (containLabel counts
    // only the axis labels), so that none is cut at the card's edge.
    const right = textWidth(rev.map((i) => text(i.us)), LABEL_PX) + 12;
    return {
      grid: { left: 8, right, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "item", valueFormatter: (v: number) => text(v) },
      xAxis: { type: "value", show: false },
      yAxis: { type: "category", data: rev.map((i) => i.label) },
      series: [
        {
          type: "bar",
          name: "Time per step",
          data: rev.map((i) => ({ value: i.us, itemStyle: { color: BREAKDOWN_COLORS[i.key] || SLATE } })),
          label: { show: true, position: "right", fontSize: LABEL_PX, textBorderWidth: 0, formatter: (p: any) => text(p.value) },
        },
      ],
    };
  }, [items, opUs, BREAKDOWN_COLORS, SLATE]);
  return (
    <section class="lp-card lp-breakdown" data-testid="breakdown">
      <h2>Step breakdown</h2>
      {props.figures ? <div class="lp-muted" data-testid="breakdown-total">{`Op time per step: ${fmtTime(opUs)}`}</div> : null}
      {notes ? (
        <div class="lp-basis-note" data-testid="breakdown-basis">
          {notes.opShares}
        </div>
      ) : null}
      <EChart option={option} height={230} label="Step breakdown: layers, optimizer, loss, input, metrics, framework, unattributed" testId="breakdown-chart" />
    </section>
  );
}
