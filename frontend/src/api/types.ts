// The documents the plugin's routes answer with (docs/http_api.md): report windows as
// stored, the figures the backend derives from them, comparisons. Types only.


export interface Hint {
  code: string;
  message: string;
  evidence: Record<string, unknown>;
  severity?: string;
}

export interface Layer {
  path: string;
  class_name: string;
  custom: boolean;
  parent: string | null;
  forward_us: number;
  backward_us: number;
  self_forward_us: number;
  self_backward_us: number;
  forward_alloc_bytes: number;
  backward_alloc_bytes: number;
  peak_live_bytes: number;
  param_bytes: number;
  calls: number;
  ops_per_call: number;
  hints: Hint[];
  /** Host op time vs device (GPU kernel) time, sublayers included (0 in older reports). */
  forward_host_us?: number;
  backward_host_us?: number;
  forward_device_us?: number;
  backward_device_us?: number;
  /** Under tf.distribute (MirroredStrategy): this layer's own time on each replica. */
  replicas?: Replica[];
  /** The layer's own ops taking the most time per step (absent in older reports). */
  top_ops?: TopOp[];
  /** The layer's own ops by type, per call. */
  op_types?: Record<string, number>;
  /** Work per step (totals including sublayers, like forward_us; null where unknown). */
  forward_flops?: number | null;
  backward_flops?: number | null;
  forward_bytes?: number | null;
  backward_bytes?: number | null;
  forward_flops_per_s?: number | null;
  backward_flops_per_s?: number | null;
  /** "exact", "estimated" (some ops in bytes only or uncounted), null: no count. */
  work_counts?: string | null;
  /** The backend's work figures of this layer (/window's `layer_work`), attached by the tab. */
  work?: LayerWork;
}

/** `figures.layer_rates` + `figures.peak_fraction` of one layer (or one phase of it). */
export interface Rates {
  flops_per_s: number;
  bytes_per_s: number | null;
  /** FLOPs per byte moved. */
  intensity: number | null;
  flops_fraction: number | null;
  bytes_fraction: number | null;
  /** The nearer roof: the larger of the two fractions (null without peaks). */
  peak_fraction: number | null;
}

/** One entry of /window's `layer_work` (tb_layerprof.plugin_store.layer_work). */
export interface LayerWork {
  counts: string | null;
  total: Rates;
  forward: Rates | null;
  backward: Rates | null;
}

export interface TopOp {
  name: string;
  type: string;
  /** "forward" or "backward" (the gradient). */
  phase: string;
  /** Time per step. */
  us: number;
}

export interface Replica {
  replica: number;
  self_forward_us: number;
  self_backward_us: number;
}

export interface Window {
  step: number;
  steps: number;
  host: string;
  step_time_us: number;
  op_time_us?: number;
  mode?: string;
  /** "device" when the window ran GPU kernels: times are kernel time; else "host". */
  clock?: string;
  host_op_time_us?: number;
  device_op_time_us?: number;
  /** Time of XLA fusions spanning several layers, split among them by share. */
  xla_split_us?: number;
  memory_allocators?: string[];
  memory_available?: boolean;
  warnings?: string[];
  layers: Layer[];
  other: Record<string, number>;
  /** Where TF wrote the window's .xplane.pb, relative to the run directory. */
  profile_dir?: string;
  /** The last profiled step's layer spans ({} in older reports). */
  timeline?: Timeline | Record<string, never>;
  /** The roofs the achieved rates are compared with, and where they come from. */
  peak_flops_per_s?: number | null;
  peak_bytes_per_s?: number | null;
  peak_source?: string | null;
  /** CPU: bytes/s of a copy that stays in cache (the roof small tensors reach); null elsewhere. */
  peak_cache_bytes_per_s?: number | null;
  /** Share of op time in ops with a FLOP or byte count. */
  work_coverage?: number;
  flops_coverage?: number;
}

export interface TimelineSpan {
  path: string;
  phase: string;
  start_us: number;
  end_us: number;
  /** Where the layer's ops of that phase ran: merged [start, end] intervals, sorted (newer reports). */
  busy?: [number, number][];
  /** Their total. */
  busy_us?: number;
  /** A layer with sublayers: where its own ops ran (no sublayers), same form; only with `busy`. */
  self_busy?: [number, number][];
  /** Their total. */
  self_busy_us?: number;
}

export interface Timeline {
  step: number;
  step_time_us: number;
  spans: TimelineSpan[];
}

export interface Compared {
  base_us: number;
  run_us: number;
  delta_us: number;
  ratio: number | null;
}

export interface DiffLayer {
  path: string;
  status: "both" | "added" | "removed";
  base_us: number;
  run_us: number;
  delta_us: number;
  ratio: number | null;
  base_forward_us: number;
  run_forward_us: number;
  delta_forward_us: number;
  base_backward_us: number;
  run_backward_us: number;
  delta_backward_us: number;
  base_alloc_bytes: number | null;
  run_alloc_bytes: number | null;
  delta_alloc_bytes: number | null;
  base_peak_live_bytes: number | null;
  run_peak_live_bytes: number | null;
  delta_peak_live_bytes: number | null;
  class_name: string;
  base_class_name: string | null;
  custom: boolean;
}

export interface DiffDoc {
  base: string;
  run: string;
  base_window: { step: number; steps: number; host: string; mode: string; memory_available: boolean };
  run_window: { step: number; steps: number; host: string; mode: string; memory_available: boolean };
  step_time: Compared;
  op_time: Compared;
  other: Record<string, Compared>;
  memory_available: boolean;
  layers: DiffLayer[];
  counts: { both: number; added: number; removed: number };
  base_hosts?: string[];
  run_hosts?: string[];
}

export interface WorkersDoc {
  step: number;
  hosts: {
    host: string;
    step_time_us: number;
    op_time_us: number;
    /** Op time outside collectives: what differs between synchronous workers. */
    compute_us?: number;
    /** Collective time: under synchronous training, mostly waiting for the slowest worker. */
    collective_us?: number;
    /** Compute beyond the fastest worker's. */
    excess_us?: number;
    other: Record<string, number>;
  }[];
  slowest_host: string | null;
  fastest_host: string | null;
  layers: {
    path: string;
    by_host: Record<string, { forward_us: number; backward_us: number; total_us: number; self_us?: number }>;
    missing_on?: string[];
    slowest_host: string | null;
    spread_us: number;
    ratio: number | null;
  }[];
  straggler: {
    host: string | null;
    fastest_host?: string | null;
    layer: string | null;
    extra_us: number;
    excess_us?: number;
    share?: number | null;
    causes?: { name: string; kind: string; extra_us: number }[];
  } | null;
}

/** Figures the backend derives from a window (tb_layerprof/figures.py, one definition each):
 * `/window` sends them beside the window, `/windows` in every entry. The tab shows these
 * and never works them out itself; an older server sends none. */
export interface HotLayerFigure {
  path: string;
  /** Forward + gradient time per step of the layer's own ops. */
  self_us: number;
  share_of_op_time: number;
  /** The codes of the layer's hints. */
  hints: string[];
}

export interface Figures {
  op_time_us: number;
  /** What "% of step" divides by: the step time, else the op time. */
  step_basis_us: number;
  layers_self_us: number;
  /** Share of op time owned by a layer or a named category (0..1). */
  coverage: number;
  hot_layers: HotLayerFigure[];
  hint_count: number;
  custom_count: number;
  layer_count: number;
}

export interface WindowResponse {
  window: Window;
  hosts?: string[];
  figures?: Figures;
  /** Work figures of the layers with counts, by path (absent from older servers). */
  layer_work?: Record<string, unknown>;
}

/** `/windows`: a summary of every readable window of a run, and the unreadable ones. */
export interface WindowsResponse {
  run: string;
  windows: { step: number; host?: string }[];
  /** Windows that cannot be read (a field of the wrong kind): tag, step, why. */
  unreadable?: { tag: string; step: number | null; error: string }[];
}

export interface RunInfo {
  run: string;
  windows: number;
  steps: number[];
  first_step: number;
  last_step: number;
  last_wall_time: number;
}

export interface RunsResponse {
  runs: RunInfo[];
  runs_without_reports: string[];
}

export interface TrendResponse {
  steps: number[];
  hosts?: string[];
  step_time_us: number[];
  layers: ({ path: string; found: boolean } & Record<string, (number | null)[]>)[];
}
