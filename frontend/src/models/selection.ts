// Which run, window and base the toolbar and the views show, from the URL state and the
// list of runs: the URL's choice, else sensible defaults (latest run, latest window).
import type { RunInfo } from "../api/types";
import type { ViewState } from "./urlstate";

export interface Selection {
  /** The run shown (the URL's, else the most recently updated run); null with no runs. */
  run: string | null;
  runInfo: RunInfo | undefined;
  /** The window shown: the URL's step, else the run's latest. */
  step: number | null;
  /** Compare mode: the base run (another run, else this one) and its window (null = latest). */
  baseRun: string | null;
  baseInfo: RunInfo | undefined;
  baseStep: number | null;
}

export function resolveSelection(state: Pick<ViewState, "run" | "step" | "base" | "baseStep">, runs: RunInfo[]): Selection {
  const latest = runs.length ? runs.reduce((a, b) => (b.last_wall_time > a.last_wall_time ? b : a)).run : null;
  const run = state.run !== null ? state.run : latest;
  const runInfo = runs.find((r) => r.run === run);
  const step = state.step !== null ? state.step : runInfo ? runInfo.last_step : null;
  // The base defaults to another run (the first other one), else this run's first window.
  const otherRun = runs.find((r) => r.run !== (runInfo && runInfo.run));
  const baseRun = state.base !== null ? state.base : otherRun ? otherRun.run : runInfo ? runInfo.run : null;
  const baseInfo = runs.find((r) => r.run === baseRun);
  const baseStep =
    state.baseStep !== null ? state.baseStep : baseInfo && otherRun === undefined && baseInfo.steps.length > 1 ? baseInfo.first_step : null;
  return { run, runInfo, step, baseRun, baseInfo, baseStep };
}
