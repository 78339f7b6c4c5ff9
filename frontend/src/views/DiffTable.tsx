// Compare mode's layer table: base vs run per layer, largest change first (VirtualTable).
import type { DiffLayer } from "../api/types";
import { classChange, statusText } from "../models/compare";
import { fmtBytes, fmtDeltaBytes, fmtDeltaTime, fmtRatio, fmtTime } from "../models/format";
import { TableColumn, VirtualTable } from "./VirtualTable";

const MAX_BODY = 520;

/** Better (smaller) or worse (larger) than the base: the cell's colour. */
export const deltaClass = (v: number | null) => (v == null || v === 0 ? "" : v < 0 ? " lp-better" : " lp-worse");

function col(
  key: string,
  label: string,
  title: string,
  width: string,
  numeric: boolean,
  text: (l: DiffLayer) => string,
  cls?: (l: DiffLayer) => string,
): TableColumn<DiffLayer> {
  return {
    key,
    label,
    title,
    width,
    numeric,
    cell: (l) => {
      const change = classChange(l);
      if (key === "path")
        return (
          <div role="cell" class="lp-cell lp-name" title={l.path + (change ? ` (class ${change})` : "")}>
            <span class="lp-path">{l.path}</span>
            {change ? (
              <span class="lp-class-change" data-testid="class-change">
                {change}
              </span>
            ) : null}
          </div>
        );
      if (key === "status") {
        const st = statusText(l);
        return (
          <div role="cell" class="lp-cell" title={change ? `In both runs; class ${change}` : undefined}>
            <span class={"lp-status lp-status-" + st}>{st}</span>
          </div>
        );
      }
      return (
        <div role="cell" class={"lp-cell" + (numeric ? " lp-num" : "") + (cls ? cls(l) : "")}>
          {text(l)}
        </div>
      );
    },
  };
}

const COLUMNS: TableColumn<DiffLayer>[] = [
  col("path", "Layer", "Layer path (matched by path in both runs)", "minmax(150px, 3fr)", false, (l) => l.path),
  col("status", "Status", "In both runs, only in the run (added) or only in the base (removed)", "74px", false, (l) => (l.status === "both" ? "" : l.status)),
  col("base_us", "Base", "Forward + gradient per step in the base", "68px", true, (l) => fmtTime(l.base_us)),
  col("run_us", "Run", "Forward + gradient per step in the run", "68px", true, (l) => fmtTime(l.run_us)),
  col("delta_us", "Δ", "Run − base (forward + gradient per step)", "76px", true, (l) => fmtDeltaTime(l.delta_us), (l) => deltaClass(l.delta_us)),
  col("ratio", "Ratio", "Run / base", "70px", true, (l) => fmtRatio(l.ratio, l.status)),
  col("fwd", "Forward", "Forward: base → run", "132px", true, (l) => `${fmtTime(l.base_forward_us)} → ${fmtTime(l.run_forward_us)}`, () => " lp-arrow"),
  col("delta_forward_us", "Δ fwd", "Change of the forward time", "76px", true, (l) => fmtDeltaTime(l.delta_forward_us), (l) => deltaClass(l.delta_forward_us)),
  col("bwd", "Gradient", "Gradient: base → run", "132px", true, (l) => `${fmtTime(l.base_backward_us)} → ${fmtTime(l.run_backward_us)}`, () => " lp-arrow"),
  col("delta_backward_us", "Δ grad", "Change of the gradient time", "76px", true, (l) => fmtDeltaTime(l.delta_backward_us), (l) => deltaClass(l.delta_backward_us)),
  col("alloc", "Alloc", "Bytes allocated per step (forward + gradient): base → run", "132px", true, (l) =>
    l.base_alloc_bytes == null ? "–" : `${fmtBytes(l.base_alloc_bytes)} → ${fmtBytes(l.run_alloc_bytes || 0)}`,
    () => " lp-arrow",
  ),
  col("delta_alloc_bytes", "Δ alloc", "Change of the bytes allocated per step", "80px", true, (l) => fmtDeltaBytes(l.delta_alloc_bytes), (l) => deltaClass(l.delta_alloc_bytes)),
  col("delta_peak_live_bytes", "Δ live", "Change of the layer's bytes alive at the memory peak", "78px", true, (l) => fmtDeltaBytes(l.delta_peak_live_bytes), (l) =>
    deltaClass(l.delta_peak_live_bytes),
  ),
];

export function DiffTable(props: { rows: DiffLayer[] }) {
  return (
    <VirtualTable
      rows={props.rows}
      columns={COLUMNS}
      rowKey={(l) => l.path}
      testId="compare-table"
      maxBody={MAX_BODY}
      rowClass={(l) => " lp-diff-" + l.status}
      rowAttrs={(l) => ({ "data-path": l.path, "data-status": l.status })}
    />
  );
}
