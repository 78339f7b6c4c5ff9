// The layers table: sortable columns, expandable nesting, virtualized rows (only the rows
// in view are in the DOM, so thousands of layers stay responsive).
import { useState, useRef, useLayoutEffect, useEffect } from "preact/hooks";
import { COLUMNS, Column, ColumnKey, Row, SortSpec, formatCell } from "./logic";

export const ROW_HEIGHT = 24;
const HEADER_HEIGHT = 30;
const MAX_BODY = 560;
const OVERSCAN = 12;

const WIDTHS: Record<ColumnKey, string> = {
  path: "minmax(260px, 3fr)",
  class_name: "minmax(90px, 1fr)",
  forward_us: "78px",
  backward_us: "78px",
  total_us: "78px",
  self_us: "78px",
  pct: "62px",
  forward_alloc_bytes: "82px",
  backward_alloc_bytes: "82px",
  peak_live_bytes: "88px",
  param_bytes: "78px",
  calls: "52px",
  ops_per_call: "64px",
  custom: "60px",
  hints: "50px",
  forward_device_us: "82px",
  backward_device_us: "82px",
  forward_host_us: "78px",
  backward_host_us: "78px",
};
export function gridOf(columns: Column[]): string {
  return columns.map((c) => WIDTHS[c.key]).join(" ");
}

function Cell(props: { row: Row; col: Column; stepUs: number; onToggle: (path: string) => void; traceUrl: string | null }) {
  const { row, col } = props;
  const l = row.layer;
  if (col.key === "path") {
    return (
      <div class="lp-cell lp-name" role="cell" style={{ paddingLeft: `${6 + row.depth * 16}px` }} title={l.path}>
        {row.hasChildren ? (
          <button
            class="lp-expander"
            aria-label={(row.expanded ? "Collapse " : "Expand ") + l.path}
            aria-expanded={row.expanded}
            onClick={(e) => {
              e.stopPropagation();
              props.onToggle(l.path);
            }}
          >
            {row.expanded ? "▾" : "▸"}
          </button>
        ) : (
          <span class="lp-expander-pad" />
        )}
        <span class="lp-path">{l.path}</span>
        {props.traceUrl ? (
          <a
            class="lp-trace"
            href={props.traceUrl}
            target="_top"
            data-testid="trace-link"
            title="Open this window's capture in the Profile tab's trace viewer (its Keras Layers line shows the layer's spans)"
            aria-label={`Trace of ${l.path}`}
            onClick={(e) => e.stopPropagation()}
          >
            trace
          </a>
        ) : null}
      </div>
    );
  }
  const text = formatCell(l, col, props.stepUs);
  if (col.key === "hints" && text) {
    const title = (l.hints || []).map((h) => `${h.code}: ${h.message}`).join("\n");
    return (
      <div class="lp-cell lp-num" role="cell" title={title}>
        <span class="lp-hint-badge">{text}</span>
      </div>
    );
  }
  if (col.key === "custom" && text) {
    return (
      <div class="lp-cell" role="cell">
        <span class="lp-custom">{text}</span>
      </div>
    );
  }
  return (
    <div class={"lp-cell" + (col.numeric ? " lp-num" : "")} role="cell" title={col.key === "class_name" ? text : undefined}>
      {text}
    </div>
  );
}

export function LayerTable(props: {
  rows: Row[];
  sort: SortSpec;
  stepUs: number;
  onSort: (key: ColumnKey) => void;
  onToggle: (path: string) => void;
  selected: string | null;
  onSelect: (path: string) => void;
  traceUrl: string | null;
  /** The columns to show (default: every column; see columnsFor). */
  columns?: Column[];
}) {
  const { rows } = props;
  const columns = props.columns || COLUMNS;
  const GRID = gridOf(columns);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(MAX_BODY);
  const box = useRef<HTMLDivElement>(null);
  const bodyH = Math.min(MAX_BODY, Math.max(1, rows.length) * ROW_HEIGHT);
  useLayoutEffect(() => {
    if (box.current) setViewH(box.current.clientHeight || bodyH);
  }, [bodyH]);
  // Bring the selected layer's row into view (e.g. after a click in the step timeline).
  useEffect(() => {
    const el = box.current;
    if (!el || props.selected === null) return;
    const i = rows.findIndex((r) => r.layer.path === props.selected);
    if (i < 0) return;
    const top = HEADER_HEIGHT + i * ROW_HEIGHT;
    if (top < el.scrollTop + HEADER_HEIGHT || top + ROW_HEIGHT > el.scrollTop + el.clientHeight) {
      el.scrollTop = Math.max(0, top - HEADER_HEIGHT - 3 * ROW_HEIGHT);
      setScrollTop(el.scrollTop);
    }
    const card = el.closest("section");
    if (card) {
      const r = card.getBoundingClientRect();
      if (r.top > window.innerHeight || r.bottom < 0) card.scrollIntoView({ block: "nearest" });
    }
  }, [props.selected, rows]);
  const first = Math.max(0, Math.floor((scrollTop - HEADER_HEIGHT) / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewH) / ROW_HEIGHT) + OVERSCAN);
  const slice = rows.slice(first, last);
  return (
    <div
      class="lp-table"
      role="table"
      aria-rowcount={rows.length + 1}
      data-testid="layer-table"
      ref={box}
      style={{ maxHeight: `${MAX_BODY + HEADER_HEIGHT}px` }}
      onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}
    >
      <div class="lp-thead" role="row" style={{ gridTemplateColumns: GRID, height: `${HEADER_HEIGHT}px` }}>
        {columns.map((c) => {
          const active = props.sort.key === c.key;
          return (
            <div
              role="columnheader"
              class={"lp-th" + (c.numeric ? " lp-num" : "") + (active ? " lp-sorted" : "")}
              aria-sort={active ? (props.sort.desc ? "descending" : "ascending") : "none"}
              data-key={c.key}
              title={c.title + " — click to sort"}
              tabIndex={0}
              onClick={() => props.onSort(c.key)}
              onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), props.onSort(c.key))}
            >
              {c.label}
              <span class="lp-sort-arrow">{active ? (props.sort.desc ? " ▼" : " ▲") : ""}</span>
            </div>
          );
        })}
      </div>
      <div class="lp-tbody" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
        {slice.map((row, i) => (
          <div
            key={row.layer.path}
            role="row"
            class={
              "lp-row" +
              ((first + i) % 2 ? " lp-odd" : "") +
              (row.layer.hints && row.layer.hints.length ? " lp-has-hints" : "") +
              (row.layer.path === props.selected ? " lp-selected" : "")
            }
            aria-rowindex={first + i + 2}
            aria-selected={row.layer.path === props.selected}
            onClick={() => props.onSelect(row.layer.path)}
            data-path={row.layer.path}
            style={{ top: `${(first + i) * ROW_HEIGHT}px`, gridTemplateColumns: GRID }}
          >
            {columns.map((c) => (
              <Cell row={row} col={c} stepUs={props.stepUs} onToggle={props.onToggle} traceUrl={props.traceUrl} />
            ))}
          </div>
        ))}
      </div>
    </div>
  );
}
