// One profile window: facts, hot layers and diagnoses, step breakdown, workers, step
// timeline, the layers table, the selected layer and the trend over training.
import { useMemo } from "preact/hooks";
import type { WindowResponse } from "../api/types";
import { readFigures, stepBasis } from "../models/figures";
import { traceViewerUrl } from "../models/links";
import { groupKeysOf } from "../models/groups";
import { buildTree, revealPatch } from "../models/tree";
import { readLayerWork, withWork } from "../models/work";
import type { ViewState } from "../models/urlstate";
import { Breakdown } from "./Breakdown";
import { HotLayers } from "./HotLayers";
import { LayerDetail } from "./LayerDetail";
import { LayersCard } from "./LayersCard";
import { Roofline } from "./Roofline";
import { StepTimeline } from "./StepTimeline";
import { Trend } from "./Trend";
import { WindowFacts } from "./WindowFacts";
import { WorkersCard } from "./WorkersCard";

/** TensorBoard's base URL (with any --path_prefix): the tab's iframe is <root>data/plugin_entry.html. */
function tensorBoardRoot(): string {
  return new URL("../", location.href).toString();
}

export function WindowView(props: {
  run: string;
  data: WindowResponse;
  hosts: string[];
  state: ViewState;
  update: (p: Partial<ViewState>) => void;
  reloadKey: number;
}) {
  const { run, state, update } = props;
  // The layers with the backend's work figures attached (the rate columns and the roofline read them).
  const w = useMemo(() => {
    const raw = props.data.window;
    return { ...raw, layers: withWork(raw.layers || [], readLayerWork(props.data.layer_work)) };
  }, [props.data]);
  const figures = useMemo(() => readFigures(props.data.figures), [props.data]);
  const stepUs = stepBasis(w, figures);
  const tree = useMemo(() => buildTree(w.layers), [w]);
  const traceUrl = useMemo(() => traceViewerUrl(tensorBoardRoot(), run, w.profile_dir, w.host), [run, w]);
  const selectedLayer = state.selected !== null ? tree.byPath.get(state.selected) : undefined;
  // Selecting a layer (timeline, workers) reveals its row: ancestors expanded, filter cleared if it hides it.
  const select = (path: string | null) => {
    if (path === null) return update({ selected: null });
    const patch: Partial<ViewState> = { ...revealPatch(tree, path, state.collapsed, state.filter), selected: path };
    // Grouped table: the layer's (first) group opens, so its row is shown.
    const l = tree.byPath.get(path);
    const key = l && state.group !== "none" ? groupKeysOf(l, state.group)[0] : undefined;
    if (key !== undefined && !state.open.includes(key)) patch.open = [...state.open, key];
    update(patch);
  };
  return (
    <div class="lp-window">
      <WindowFacts w={w} figures={figures} traceUrl={traceUrl} />
      <div class="lp-grid">
        <HotLayers w={w} figures={figures} tree={tree} stepUs={stepUs} onSelect={select} />
        <Breakdown w={w} figures={figures} stepUs={stepUs} />
      </div>
      {props.hosts.length > 1 ? <WorkersCard run={run} step={w.step} reloadKey={props.reloadKey} selected={state.selected} onSelect={select} /> : null}
      <StepTimeline w={w} selected={state.selected} onSelect={select} onClear={() => select(null)} traceUrl={traceUrl} />
      <Roofline w={w} selected={state.selected} onSelect={select} />
      {/* The selected layer's detail sits beside the table (below it on a narrow window). */}
      <div class={"lp-split" + (selectedLayer ? " lp-split-open" : "")}>
        <LayersCard run={run} w={w} tree={tree} stepUs={stepUs} state={state} update={update} onSelect={select} traceUrl={traceUrl} figures={figures} />
        {selectedLayer ? <LayerDetail layer={selectedLayer} w={w} stepUs={stepUs} onClose={() => select(null)} traceUrl={traceUrl} /> : null}
      </div>
      <Trend run={run} w={w} figures={figures} state={state} update={update} reloadKey={props.reloadKey} />
    </div>
  );
}
