// The line of facts above a window: steps, times, mode, clock, coverage, host, warnings.
import type { Figures, Window } from "../api/types";
import { hasDeviceTime } from "../models/columns";
import { fmtCoverage } from "../models/figures";
import { fmtTime, num } from "../models/format";

function facts(w: Window, figures: Figures | null): string[] {
  return [
    Number.isFinite(w.step) && Number.isFinite(w.steps) && w.steps > 1 ? `steps ${w.step}–${w.step + w.steps - 1}` : `step ${num(w.step)}`,
    `step time ${fmtTime(w.step_time_us)}`,
    figures ? `op time ${fmtTime(figures.op_time_us)}` : "",
    fmtCoverage(figures),
    w.mode ? `mode ${w.mode}` : "",
    w.clock ? `clock ${w.clock === "device" ? "device (GPU kernel time)" : w.clock}` : "",
    hasDeviceTime(w) ? `device ops ${fmtTime(w.device_op_time_us || 0)} · host ops ${fmtTime(w.host_op_time_us || 0)}` : "",
    w.xla_split_us ? `XLA fusions split across layers ${fmtTime(w.xla_split_us)}` : "",
    w.memory_allocators && w.memory_allocators.length ? `memory from ${w.memory_allocators.join(", ")}` : "",
    w.host ? `host ${w.host}` : "",
  ].filter(Boolean);
}

export function WindowFacts(props: { w: Window; figures: Figures | null; traceUrl: string | null }) {
  const { w } = props;
  return (
    <div class="lp-facts" data-testid="window-facts">
      <span>{facts(w, props.figures).join(" · ")}</span>
      {props.traceUrl ? (
        <>
          {" · "}
          <a
            class="lp-trace-window"
            href={props.traceUrl}
            target="_top"
            data-testid="trace-link-window"
            title="Open this window's capture (session and host) in the Profile tab's trace viewer"
          >
            trace viewer ↗
          </a>
        </>
      ) : null}
      {w.memory_available === false ? <div class="lp-warning">Memory was not recorded in this window; memory columns read 0.</div> : null}
      {(Array.isArray(w.warnings) ? w.warnings : []).map((m) => (
        <div class="lp-warning" data-testid="window-warning">
          {String(m)}
        </div>
      ))}
    </div>
  );
}
