// The "Layers" card: filter, flat list, exports (CSV from the backend, JSON of the window
// as shown) and the layers table.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { routeUrl } from "../api/client";
import type { Figures, Window } from "../api/types";
import { basisNotes } from "../models/figures";
import { Column, ColumnKey, columnsFor, shownColumns, toggleColumn } from "../models/columns";
import { exportFileBase, reportCsvParams } from "../models/links";
import { GroupBy, groupKeysOf, groupedRows } from "../models/groups";
import { Row, Tree, visibleRows } from "../models/tree";
import type { ViewState } from "../models/urlstate";
import { toJson } from "../models/window";
import { downloadText } from "./download";
import { LayerTable } from "./LayerTable";

const FILTER_DELAY_MS = 120;

/** Column headers: a second click reverses; numbers start descending, names ascending. */
function nextSort(sort: ViewState["sort"], key: ColumnKey): ViewState["sort"] {
  return { key, desc: sort.key === key ? !sort.desc : key !== "path" && key !== "class_name" };
}

export function LayersCard(props: {
  run: string;
  w: Window;
  tree: Tree;
  stepUs: number;
  state: ViewState;
  update: (p: Partial<ViewState>) => void;
  onSelect: (path: string) => void;
  traceUrl: string | null;
  figures: Figures | null;
}) {
  const { w, tree, stepUs, state, update } = props;
  const available = useMemo(() => columnsFor(w), [w]);
  const notes = basisNotes(stepUs, props.figures);
  const columns = useMemo(() => shownColumns(available, state.cols), [available, (state.cols || ["\u0000"]).join(",")]);
  const collapsed = useMemo(() => new Set(state.collapsed), [state.collapsed.join("\u0000")]);
  const open = useMemo(() => new Set(state.open), [state.open.join("\u0000")]);
  const rows = useMemo(
    () =>
      state.group !== "none"
        ? groupedRows(tree, state.group, { sort: state.sort, filter: state.filter, open, stepUs })
        : visibleRows(tree, { sort: state.sort, filter: state.filter, flat: state.flat, collapsed, stepUs }),
    [tree, state.sort.key, state.sort.desc, state.filter, state.flat, collapsed, stepUs, state.group, open],
  );
  const layerRows = state.group !== "none" ? new Set(rows.filter((r) => !r.group).map((r) => r.layer.path)).size : rows.length;
  const groupCount = rows.filter((r) => r.group).length;
  const onToggle = (row: Row) => {
    if (row.group) {
      const set = new Set(state.open);
      set.has(row.group.key) ? set.delete(row.group.key) : set.add(row.group.key);
      return update({ open: Array.from(set) });
    }
    const set = new Set(state.collapsed);
    set.has(row.layer.path) ? set.delete(row.layer.path) : set.add(row.layer.path);
    update({ collapsed: Array.from(set) });
  };
  const exportJson = () => {
    const layers = visibleRows(tree, { sort: state.sort, filter: state.filter, flat: state.flat, collapsed: new Set(), stepUs }).map((r) => r.layer);
    downloadText(`${exportFileBase(props.run, w.step)}.json`, "application/json", toJson(props.run, w, layers));
  };
  return (
    <section class="lp-card" data-testid="layers">
      <div class="lp-card-head">
        <h2>Layers</h2>
        <FilterInput value={state.filter} onChange={(filter) => update({ filter })} />
        <label class="lp-field">
          Group
          <select
            data-testid="group-by"
            value={state.group}
            onChange={(e) => {
              // The selected layer's group starts open, so its row stays in view.
              const group = (e.currentTarget as HTMLSelectElement).value as GroupBy;
              const sel = state.selected !== null ? tree.byPath.get(state.selected) : undefined;
              update({ group, open: sel && group !== "none" ? groupKeysOf(sel, group).slice(0, 1) : [] });
            }}
          >
            <option value="none">none (tree)</option>
            <option value="class">by class</option>
            <option value="diagnosis">by diagnosis</option>
          </select>
        </label>
        <label class="lp-check">
          <input
            type="checkbox"
            checked={state.flat}
            disabled={state.group !== "none"}
            onChange={(e) => update({ flat: (e.currentTarget as HTMLInputElement).checked })}
          />
          Flat list
        </label>
        <span class="lp-muted" data-testid="row-count">
          {state.group !== "none" ? `${groupCount} groups · ${layerRows} of ${w.layers.length} layers shown` : `${rows.length} of ${w.layers.length} layers`}
        </span>
        <span class="lp-spacer" />
        <ColumnChooser available={available} shown={columns} onChange={(cols) => update({ cols })} />
        <a
          class="lp-button"
          data-testid="export-csv"
          href={routeUrl("report", reportCsvParams(props.run, w.step, w.host))}
          download={`${exportFileBase(props.run, w.step)}.csv`}
          title="Every layer of this window as CSV (the same columns as tb-layerprof report --format csv)"
        >
          Export CSV
        </a>
        <button class="lp-button" data-testid="export-json" onClick={exportJson}>
          Export JSON
        </button>
      </div>
      {w.layers.length ? (
        <LayerTable
          rows={rows}
          columns={columns}
          sort={state.sort}
          stepUs={stepUs}
          onSort={(key) => update({ sort: nextSort(state.sort, key) })}
          onToggle={onToggle}
          selected={state.selected}
          onSelect={props.onSelect}
          traceUrl={props.traceUrl}
        />
      ) : (
        <div class="lp-muted">This window has no layers.</div>
      )}
      {notes && columns.some((c) => c.key === "pct") ? (
        <div class="lp-basis-note" data-testid="table-basis">
          {notes.table}
        </div>
      ) : null}
    </section>
  );
}

/** "Columns": which of the table's columns to show (a <details> menu: keyboard-operable). */
function ColumnChooser(props: { available: Column[]; shown: Column[]; onChange: (cols: string[]) => void }) {
  const shown = new Set(props.shown.map((c) => c.key));
  return (
    <details class="lp-columns" data-testid="column-chooser">
      <summary class="lp-button" title="Choose the table's columns">
        Columns
      </summary>
      <div class="lp-columns-menu" role="group" aria-label="Columns shown">
        {props.available
          .filter((c) => c.key !== "path")
          .map((c) => (
            <label title={c.title}>
              <input
                type="checkbox"
                data-key={c.key}
                checked={shown.has(c.key)}
                onChange={() => props.onChange(toggleColumn(props.shown, c.key, props.available))}
              />
              {c.label}
            </label>
          ))}
      </div>
    </details>
  );
}

/** The filter box: typing is shown at once, the view follows after a short pause; a filter
 * changed elsewhere (cleared to reveal a selected layer) is shown too. */
function FilterInput(props: { value: string; onChange: (v: string) => void }) {
  const [text, setText] = useState(props.value);
  const timer = useRef<number | undefined>(undefined);
  const sent = useRef(props.value);
  useEffect(() => {
    if (props.value !== sent.current) {
      sent.current = props.value;
      clearTimeout(timer.current);
      setText(props.value);
    }
  }, [props.value]);
  useEffect(() => () => clearTimeout(timer.current), []);
  return (
    <input
      class="lp-filter"
      type="search"
      placeholder="Filter by name or class"
      aria-label="Filter layers by name"
      data-testid="filter"
      value={text}
      onInput={(e) => {
        const v = (e.currentTarget as HTMLInputElement).value;
        setText(v);
        clearTimeout(timer.current);
        timer.current = window.setTimeout(() => {
          sent.current = v;
          props.onChange(v);
        }, FILTER_DELAY_MS);
      }}
    />
  );
}
