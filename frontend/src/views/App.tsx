// The Layer Profile tab. State lives in the iframe's URL hash, so a link to the iframe URL
// (…/data/plugin_entry.html?name=layerprof#run=…&step=…) reproduces the view.
import { useState } from "preact/hooks";
import { Load, useFetch, useHashState } from "../api/hooks";
import { useTensorBoardReload } from "../api/reload";
import type { DiffDoc, RunsResponse, WindowResponse, WindowsResponse, WorkersDoc } from "../api/types";
import { Selection, resolveSelection } from "../models/selection";
import type { ViewState } from "../models/urlstate";
import { CompareView } from "./CompareView";
import { Message, NoReportsHelp, UnreadableNote } from "./Message";
import { Toolbar } from "./Toolbar";
import { WindowView } from "./WindowView";

const okData = <T,>(load: Load<T>): T | null => (load.status === "ok" ? load.data : null);

export function App() {
  const [state, update] = useHashState();
  const [reloadKey, setReloadKey] = useState(0);
  const refresh = () => setReloadKey((k) => k + 1);
  // TensorBoard's reload button and auto-reload reload the tab too (the view state, in the
  // URL, is kept: same run, window choice and selected layer).
  useTensorBoardReload(refresh);
  const runs = useFetch<RunsResponse>("runs", {}, reloadKey);
  const runList = runs.status === "ok" ? runs.data.runs : [];
  const others = runs.status === "ok" ? runs.data.runs_without_reports : [];
  const resolved = resolveSelection(state, runList);
  const compare = state.view === "compare";
  const win = useStragglerWindow(resolved, state, !compare, reloadKey);
  // Unreadable windows of the run (/windows): named above the view, marked in the picker.
  const listed = useFetch<WindowsResponse>(resolved.runInfo && !compare ? "windows" : null, { run: resolved.run }, reloadKey);
  const unreadable = listed.status === "ok" && Array.isArray(listed.data.unreadable) ? listed.data.unreadable : [];
  const badSteps = new Set(unreadable.map((u) => u.step).filter((s): s is number => typeof s === "number"));
  const diff = useDiff(resolved, state, compare, reloadKey);
  const winData = okData(win);
  const diffData = okData(diff);
  // No step in the URL: the server opened the latest readable window; the picker shows it.
  const sel = !compare && state.step === null && winData ? { ...resolved, step: winData.window.step } : resolved;
  const hosts = compare ? (diffData && diffData.run_hosts) || [] : winData ? windowHosts(winData) : [];
  const host = compare ? (diffData ? diffData.run_window.host : null) : winData ? winData.window.host : null;
  let body;
  if (runs.status === "error")
    body = (
      <Message kind="error" title="Could not load the list of runs" onRetry={refresh}>
        {runs.message}
      </Message>
    );
  else if (runs.status !== "ok") body = <Message kind="loading" title="Loading runs…" />;
  else if (!runList.length)
    body = (
      <Message kind="empty" title="No layer profiles yet">
        <NoReportsHelp others={others} />
      </Message>
    );
  else if (!sel.runInfo)
    body = (
      <Message kind="empty" title="No layer reports for this run">
        <NoReportsHelp run={sel.run || ""} others={others} />
      </Message>
    );
  else if (compare) body = <CompareBody sel={sel} diff={diff} onRetry={refresh} />;
  else if (win.status === "error")
    body = (
      <Message
        kind="error"
        title={state.step !== null && badSteps.has(state.step) ? `The window at step ${state.step} cannot be read` : "Could not load this profile window"}
        onRetry={state.step !== null && badSteps.has(state.step) ? undefined : refresh}
        action={state.step !== null ? { label: "Open the latest readable window", onClick: () => update({ step: null, host: null }) } : undefined}
      >
        {win.message}
      </Message>
    );
  else if (!winData) body = <Message kind="loading" title="Loading layer report…" />;
  else
    body = (
      <>
        <UnreadableNote items={unreadable} />
        <WindowView run={sel.runInfo.run} data={winData} hosts={hosts} state={state} update={update} reloadKey={reloadKey} />
      </>
    );
  return (
    <div class="lp-app">
      <Toolbar sel={sel} runs={runList} others={others} unreadable={badSteps} compare={compare} hosts={hosts} host={host} diff={diffData} update={update} onRefresh={refresh} />
      {body}
    </div>
  );
}

const windowHosts = (d: WindowResponse) => (Array.isArray(d.hosts) ? d.hosts : [d.window.host]);

/** The window shown in the Layers view (/window). */
function useWindow(sel: Selection, state: ViewState, enabled: boolean, reloadKey: number): Load<WindowResponse> {
  const ask = enabled && sel.runInfo && sel.step !== null;
  // No step chosen: the server's latest readable window (the run's last step may be unreadable).
  return useFetch<WindowResponse>(ask ? "window" : null, { run: sel.run, step: state.step === null ? null : String(state.step), host: state.host }, reloadKey);
}

/** The window of the Layers view; with several hosts and none chosen, the straggler's (the
 * host /workers names as the slowest), not the server's default (the last host by name). */
function useStragglerWindow(sel: Selection, state: ViewState, enabled: boolean, reloadKey: number): Load<WindowResponse> {
  const first = useWindow(sel, state, enabled, reloadKey);
  const w = okData(first);
  const multi = enabled && state.host === null && !!w && windowHosts(w).length > 1;
  const workers = useFetch<WorkersDoc>(multi ? "workers" : null, { run: sel.run, step: w ? String(w.window.step) : null }, reloadKey);
  const doc = okData(workers);
  const straggler = doc ? (doc.straggler && doc.straggler.host) || doc.slowest_host : null;
  const other = multi && !!straggler && straggler !== w!.window.host && windowHosts(w!).includes(straggler);
  const second = useFetch<WindowResponse>(other ? "window" : null, { run: sel.run, step: w ? String(w.window.step) : null, host: straggler }, reloadKey);
  if (other) return second;
  // Until /workers answers, nothing rather than another host's window for a moment.
  if (multi && (workers.status === "loading" || workers.status === "idle")) return { status: "loading" };
  return first;
}

/** The comparison of Compare mode (/diff): base run/window/host against run/window/host. */
function useDiff(sel: Selection, state: ViewState, enabled: boolean, reloadKey: number): Load<DiffDoc> {
  const ask = enabled && sel.runInfo && sel.step !== null && sel.baseInfo;
  const params = {
    base: sel.baseRun,
    run: sel.run,
    base_step: sel.baseStep === null ? null : String(sel.baseStep),
    step: state.step === null ? null : String(state.step),
    base_host: state.baseHost,
    host: state.host,
  };
  return useFetch<DiffDoc>(ask ? "diff" : null, params, reloadKey);
}

function CompareBody(props: { sel: Selection; diff: Load<DiffDoc>; onRetry: () => void }) {
  const { sel, diff } = props;
  if (!sel.baseInfo)
    return (
      <Message kind="empty" title="Pick a base run to compare with">
        {sel.baseRun !== null ? `Run ${sel.baseRun} has no layer reports.` : "There is no run with layer reports to compare with."}
      </Message>
    );
  if (diff.status === "error")
    return (
      <Message kind="error" title="Could not compare these windows" onRetry={props.onRetry}>
        {diff.message}
      </Message>
    );
  if (diff.status !== "ok") return <Message kind="loading" title="Comparing…" />;
  return <CompareView doc={diff.data} />;
}
