// The layers table: sortable columns, expandable nesting; rows virtualized by VirtualTable.
import { useMemo } from "preact/hooks";
import { Column, ColumnKey, SortSpec, formatCell } from "../models/columns";
import { groupTitle } from "../models/groups";
import type { Row } from "../models/tree";
import { workTitle } from "../models/work";
import { TableColumn, VirtualTable } from "./VirtualTable";

const MAX_BODY = 560;

const WIDTHS: Record<ColumnKey, string> = {
  path: "minmax(190px, 3fr)",
  class_name: "minmax(80px, 1fr)",
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
  flops_per_s: "60px",
  peak_fraction: "60px",
  custom: "62px",
  hints: "50px",
  forward_device_us: "82px",
  backward_device_us: "82px",
  forward_host_us: "78px",
  backward_host_us: "78px",
};

interface CellContext {
  stepUs: number;
  onToggle: (row: Row) => void;
  traceUrl: string | null;
}

/** A group's header: "SlowLoop × 590 = 61% of step", its expander opening the group. */
function GroupCell(props: { row: Row; ctx: CellContext }) {
  const { row, ctx } = props;
  const title = groupTitle(row.group!);
  return (
    <div class="lp-cell lp-name lp-group-name" role="cell" style={{ paddingLeft: "6px" }} title={title}>
      <button
        class="lp-expander"
        tabIndex={-1}
        aria-label={(row.expanded ? "Collapse group " : "Expand group ") + row.group!.label}
        aria-expanded={row.expanded}
        onClick={(e) => {
          e.stopPropagation();
          ctx.onToggle(row);
        }}
      >
        {row.expanded ? "▾" : "▸"}
      </button>
      <span class="lp-path" data-testid="group-title">{title}</span>
    </div>
  );
}

function PathCell(props: { row: Row; ctx: CellContext }) {
  const { row, ctx } = props;
  if (row.group) return <GroupCell row={row} ctx={ctx} />;
  const l = row.layer;
  return (
    <div class="lp-cell lp-name" role="cell" style={{ paddingLeft: `${6 + row.depth * 16}px` }} title={l.path}>
      {row.hasChildren ? (
        <button
          class="lp-expander"
          tabIndex={-1}
          aria-label={(row.expanded ? "Collapse " : "Expand ") + l.path}
          aria-expanded={row.expanded}
          onClick={(e) => {
            e.stopPropagation();
            ctx.onToggle(row);
          }}
        >
          {row.expanded ? "▾" : "▸"}
        </button>
      ) : (
        <span class="lp-expander-pad" />
      )}
      <span class="lp-path">{l.path}</span>
      {ctx.traceUrl ? (
        <a
          class="lp-trace"
          href={ctx.traceUrl}
          target="_top"
          tabIndex={-1}
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

function ValueCell(props: { row: Row; col: Column; ctx: CellContext }) {
  const { col } = props;
  const l = props.row.layer;
  const text = formatCell(l, col, props.ctx.stepUs);
  if (col.key === "hints" && text) {
    const title = props.row.group ? `${text} diagnoses in this group` : (l.hints || []).map((h) => `${h.code}: ${h.message}`).join("\n");
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
  if (col.kind === "rate" || col.kind === "roof") {
    // Group headers have no rate of their own; a layer's tooltip says how it was counted.
    const title = props.row.group ? "A group has no rate of its own: see its layers" : workTitle(l);
    return (
      <div class={"lp-cell lp-num" + (text === "—" ? " lp-unknown" : "")} role="cell" title={title} data-col={col.key}>
        {text}
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
  columns: Column[];
  sort: SortSpec;
  stepUs: number;
  onSort: (key: ColumnKey) => void;
  onToggle: (row: Row) => void;
  selected: string | null;
  onSelect: (path: string) => void;
  traceUrl: string | null;
}) {
  const { rows, selected } = props;
  const ctx: CellContext = { stepUs: props.stepUs, onToggle: props.onToggle, traceUrl: props.traceUrl };
  const columns: TableColumn<Row>[] = props.columns.map((c) => ({
    key: c.key,
    label: c.label,
    title: c.title,
    width: WIDTHS[c.key],
    numeric: c.numeric,
    cell: (row: Row) => (c.key === "path" ? <PathCell row={row} ctx={ctx} /> : <ValueCell row={row} col={c} ctx={ctx} />),
  }));
  const reveal = useMemo(() => (selected === null ? -1 : rows.findIndex((r) => r.layer.path === selected)), [rows, selected]);
  return (
    <VirtualTable
      rows={rows}
      columns={columns}
      rowKey={(r) => (r.groupKey !== undefined ? r.groupKey + "\u0000" : "") + r.layer.path}
      testId="layer-table"
      maxBody={MAX_BODY}
      rowClass={(r) =>
        (r.group ? " lp-group-row" : "") + (r.layer.hints && r.layer.hints.length ? " lp-has-hints" : "") + (r.layer.path === selected ? " lp-selected" : "")
      }
      rowAttrs={(r) =>
        r.group
          ? { "data-group": r.group.key, "aria-expanded": r.expanded }
          : { "data-path": r.layer.path, "aria-selected": r.layer.path === selected, ...(r.groupKey !== undefined ? { "data-in-group": r.groupKey } : {}) }
      }
      onRowClick={(r) => (r.group ? props.onToggle(r) : props.onSelect(r.layer.path))}
      sort={props.sort}
      onSort={(key) => props.onSort(key as ColumnKey)}
      revealIndex={reveal}
      onRowKey={(r, key) => {
        // ArrowRight opens a closed row (or group), ArrowLeft closes an open one.
        if (!r.hasChildren || (key === "ArrowRight") === r.expanded || (key !== "ArrowRight" && key !== "ArrowLeft")) return false;
        props.onToggle(r);
        return true;
      }}
    />
  );
}
