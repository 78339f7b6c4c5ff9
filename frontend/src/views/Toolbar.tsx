// The toolbar: Layers / Compare switch, base pickers (compare mode), run, window and host
// pickers, Refresh. Every choice goes into the URL state.
import type { ComponentChildren } from "preact";
import type { DiffDoc, RunInfo } from "../api/types";
import type { Selection } from "../models/selection";
import type { ViewState } from "../models/urlstate";

type Update = (patch: Partial<ViewState>) => void;
const valueOf = (e: Event) => (e.currentTarget as HTMLSelectElement).value;

function Picker(props: {
  label: string;
  testId: string;
  value: string;
  onChange: (v: string) => void;
  disabled?: boolean;
  title?: string;
  children: ComponentChildren;
}) {
  return (
    <label class="lp-field">
      <span>{props.label}</span>
      <select data-testid={props.testId} value={props.value} disabled={props.disabled} title={props.title} onChange={(e) => props.onChange(valueOf(e))}>
        {props.children}
      </select>
    </label>
  );
}

const options = (values: string[]) => values.map((v) => <option value={v}>{v}</option>);

/** A run's windows, latest first. */
function stepOptions(info: RunInfo | undefined, latest: boolean, unreadable: Set<number> = new Set()) {
  if (!info) return null;
  const readable = info.steps.filter((s) => !unreadable.has(s));
  const last = readable.length ? readable[readable.length - 1] : null;
  return info.steps
    .slice()
    .reverse()
    .map((s) => (
      <option value={String(s)}>{`step ${s}${unreadable.has(s) ? " (unreadable)" : latest && s === last ? " (latest)" : ""}`}</option>
    ));
}

function ViewSwitch(props: { compare: boolean; canCompare: boolean; update: Update }) {
  const tab = (on: boolean, id: string, label: string, view: ViewState["view"], disabled = false) => (
    <button role="tab" aria-selected={on} class={"lp-tab" + (on ? " lp-tab-on" : "")} data-testid={id} onClick={() => props.update({ view })} disabled={disabled}>
      {label}
    </button>
  );
  return (
    <div class="lp-tabs" role="tablist" data-testid="view-switch">
      {tab(!props.compare, "view-layers", "Layers", "layers")}
      {tab(props.compare, "view-compare", "Compare", "compare", !props.canCompare)}
    </div>
  );
}

function BasePickers(props: { sel: Selection; runs: RunInfo[]; diff: DiffDoc | null; update: Update }) {
  const { sel, diff, update } = props;
  const baseHosts = diff && Array.isArray(diff.base_hosts) ? diff.base_hosts : [];
  return (
    <>
      <Picker label="Base" testId="base-run-picker" value={sel.baseRun || ""} onChange={(v) => update({ base: v, baseStep: null, baseHost: null })}>
        {sel.baseRun !== null && !sel.baseInfo ? <option value={sel.baseRun}>{sel.baseRun}</option> : null}
        {options(props.runs.map((r) => r.run))}
      </Picker>
      <Picker
        label="Base window"
        testId="base-window-picker"
        value={sel.baseStep === null ? "" : String(sel.baseStep)}
        disabled={!sel.baseInfo}
        onChange={(v) => update({ baseStep: v === "" ? null : Number(v), baseHost: null })}
      >
        <option value="">latest</option>
        {stepOptions(sel.baseInfo, false)}
      </Picker>
      {baseHosts.length > 1 && diff ? (
        <Picker label="Base host" testId="base-host-picker" value={diff.base_window.host} onChange={(v) => update({ baseHost: v })}>
          {options(baseHosts)}
        </Picker>
      ) : null}
      <span class="lp-muted">vs</span>
    </>
  );
}

export function Toolbar(props: {
  sel: Selection;
  runs: RunInfo[];
  others: string[];
  compare: boolean;
  /** The hosts of the window shown, and which one it is (null: not known yet). */
  hosts: string[];
  host: string | null;
  diff: DiffDoc | null;
  update: Update;
  onRefresh: () => void;
  /** Steps whose window cannot be read (from /windows). */
  unreadable?: Set<number>;
}) {
  const { sel, runs, others, compare, update } = props;
  return (
    <div class="lp-toolbar">
      <ViewSwitch compare={compare} canCompare={runs.length > 0} update={update} />
      {compare ? <BasePickers sel={sel} runs={runs} diff={props.diff} update={update} /> : null}
      {runs.length || others.length ? (
      <>
      <Picker
        label="Run"
        testId="run-picker"
        value={sel.run || ""}
        onChange={(v) => update({ run: v, step: null, host: null, selected: null })}
        title={compare ? "The run compared with the base" : "The run shown"}
        disabled={!runs.length && !others.length}
      >
        {sel.run !== null && !sel.runInfo ? <option value={sel.run}>{sel.run}</option> : null}
        {options(runs.map((r) => r.run))}
        {others.length ? <optgroup label="No layer reports yet">{options(others)}</optgroup> : null}
      </Picker>
      <Picker
        label="Window"
        testId="window-picker"
        value={sel.step === null ? "" : String(sel.step)}
        disabled={!sel.runInfo}
        onChange={(v) => update({ step: Number(v), host: null })}
      >
        {stepOptions(sel.runInfo, true, props.unreadable)}
      </Picker>
      </>
      ) : null}
      {props.hosts.length > 1 && props.host !== null ? (
        <Picker label="Host" testId="host-picker" value={props.host} onChange={(v) => update({ host: v })}>
          {options(props.hosts)}
        </Picker>
      ) : null}
      {sel.runInfo && !compare ? (
        <span class="lp-muted" data-testid="window-count">
          {`${sel.runInfo.windows} window${sel.runInfo.windows === 1 ? "" : "s"}` + (props.unreadable && props.unreadable.size ? ` (${props.unreadable.size} unreadable)` : "")}
        </span>
      ) : null}
      <span class="lp-spacer" />
      <button class="lp-button" onClick={props.onRefresh} title="Reload runs and reports">
        Refresh
      </button>
    </div>
  );
}
