// The one virtual-scroll table of the tab (layers, compare): a sticky header, and only the
// rows in view (plus some overscan) in the DOM, so thousands of rows stay responsive.
import type { ComponentChild } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";

export const ROW_HEIGHT = 24;
const HEADER_HEIGHT = 30;
const OVERSCAN = 12;

export interface TableColumn<R> {
  key: string;
  label: string;
  title: string;
  /** A CSS grid track: "78px", "minmax(240px, 3fr)". */
  width: string;
  numeric: boolean;
  /** The whole cell (an element with role="cell"). */
  cell: (row: R) => ComponentChild;
}

export interface TableSort {
  key: string;
  desc: boolean;
}

/** The narrowest a grid track gets: "78px" -> 78, "minmax(260px, 3fr)" -> 260. */
export function trackMin(width: string): number {
  const m = /(\d+(?:\.\d+)?)px/.exec(width);
  return m ? Number(m[1]) : 60;
}

export function VirtualTable<R>(props: {
  rows: R[];
  columns: TableColumn<R>[];
  rowKey: (row: R) => string;
  testId: string;
  maxBody: number;
  /** Extra classes and attributes of a row (data-path, aria-selected...). */
  rowClass?: (row: R) => string;
  rowAttrs?: (row: R) => Record<string, unknown>;
  onRowClick?: (row: R) => void;
  /** Sortable headers: the current sort and what a header click does. */
  sort?: TableSort;
  onSort?: (key: string) => void;
  /** A row to bring into view (e.g. the layer selected in the timeline); -1 for none. */
  revealIndex?: number;
  /** Keys other than moving and Enter/Space on a focused row (ArrowLeft/Right: collapse,
   * expand); true when handled. */
  onRowKey?: (row: R, key: string) => boolean;
}) {
  const { rows, columns, sort, onSort } = props;
  const grid = columns.map((c) => c.width).join(" ");
  // As wide as the columns need, no wider: the table scrolls sideways in its box only when
  // the chosen columns do not fit, never the page.
  const minWidth = `${columns.reduce((s, c) => s + trackMin(c.width), 0)}px`;
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(props.maxBody);
  const box = useRef<HTMLDivElement>(null);
  const bodyH = Math.min(props.maxBody, Math.max(1, rows.length) * ROW_HEIGHT);
  useLayoutEffect(() => {
    if (box.current) setViewH(box.current.clientHeight || bodyH);
  }, [bodyH]);
  const reveal = props.revealIndex ?? -1;
  useEffect(() => {
    const el = box.current;
    if (!el || reveal < 0) return;
    const top = HEADER_HEIGHT + reveal * ROW_HEIGHT;
    if (top < el.scrollTop + HEADER_HEIGHT || top + ROW_HEIGHT > el.scrollTop + el.clientHeight) {
      el.scrollTop = Math.max(0, top - HEADER_HEIGHT - 3 * ROW_HEIGHT);
      setScrollTop(el.scrollTop);
    }
    const card = el.closest("section");
    if (card) {
      const r = card.getBoundingClientRect();
      if (r.top > window.innerHeight || r.bottom < 0) card.scrollIntoView({ block: "nearest" });
    }
  }, [reveal, rows]);
  // Keyboard: one row in the tab order (the focused one, else the revealed one, else the
  // first); arrows, Home/End and PageUp/PageDown move it, Enter/Space act on it.
  const [active, setActive] = useState(-1);
  const wantFocus = useRef(false);
  const current = active >= 0 && active < rows.length ? active : reveal >= 0 ? reveal : 0;
  const moveTo = (i: number) => {
    const el = box.current;
    const next = Math.max(0, Math.min(rows.length - 1, i));
    if (el) {
      const top = HEADER_HEIGHT + next * ROW_HEIGHT;
      if (top < el.scrollTop + HEADER_HEIGHT) el.scrollTop = top - HEADER_HEIGHT;
      else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW_HEIGHT - el.clientHeight;
      setScrollTop(el.scrollTop);
    }
    wantFocus.current = true;
    setActive(next);
  };
  useLayoutEffect(() => {
    if (!wantFocus.current || !box.current) return;
    wantFocus.current = false;
    const row = box.current.querySelector<HTMLElement>(`.lp-tbody [aria-rowindex="${current + 2}"]`);
    if (row) row.focus({ preventScroll: true });
  });
  const onKey = (e: KeyboardEvent, row: R, i: number) => {
    const page = Math.max(1, Math.floor(viewH / ROW_HEIGHT) - 1);
    const moves: Record<string, number> = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: rows.length - 1, PageDown: i + page, PageUp: i - page };
    if (e.key in moves) {
      e.preventDefault();
      moveTo(moves[e.key]);
    } else if ((e.key === "Enter" || e.key === " ") && props.onRowClick) {
      e.preventDefault();
      wantFocus.current = true;
      setActive(i);
      props.onRowClick(row);
    } else if (props.onRowKey && props.onRowKey(row, e.key)) {
      e.preventDefault();
      wantFocus.current = true;
      setActive(i);
    }
  };
  const first = Math.max(0, Math.floor((scrollTop - HEADER_HEIGHT) / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewH) / ROW_HEIGHT) + OVERSCAN);
  return (
    <div
      class="lp-table"
      role="table"
      aria-rowcount={rows.length + 1}
      data-testid={props.testId}
      ref={box}
      style={{ maxHeight: `${props.maxBody + HEADER_HEIGHT}px` }}
      onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}
    >
      <div class="lp-thead" role="row" style={{ gridTemplateColumns: grid, height: `${HEADER_HEIGHT}px`, minWidth }}>
        {columns.map((c) => (
          <HeaderCell col={c} sort={sort} onSort={onSort} />
        ))}
      </div>
      <div class="lp-tbody" style={{ height: `${rows.length * ROW_HEIGHT}px`, minWidth }}>
        {rows.slice(first, last).map((row, i) => (
          <div
            key={props.rowKey(row)}
            role="row"
            class={"lp-row" + ((first + i) % 2 ? " lp-odd" : "") + (props.rowClass ? props.rowClass(row) : "")}
            aria-rowindex={first + i + 2}
            tabIndex={first + i === current ? 0 : -1}
            onKeyDown={(e) => onKey(e as unknown as KeyboardEvent, row, first + i)}
            onFocus={() => first + i !== active && setActive(first + i)}
            onClick={props.onRowClick ? () => (setActive(first + i), props.onRowClick!(row)) : undefined}
            style={{ top: `${(first + i) * ROW_HEIGHT}px`, gridTemplateColumns: grid }}
            {...(props.rowAttrs ? props.rowAttrs(row) : {})}
          >
            {columns.map((c) => c.cell(row))}
          </div>
        ))}
      </div>
    </div>
  );
}

function HeaderCell<R>(props: { col: TableColumn<R>; sort?: TableSort; onSort?: (key: string) => void }) {
  const { col: c, sort, onSort } = props;
  const active = !!sort && sort.key === c.key;
  const cls = "lp-th" + (c.numeric ? " lp-num" : "") + (active ? " lp-sorted" : "");
  if (!onSort)
    return (
      <div role="columnheader" class={cls} data-key={c.key} title={c.title}>
        {c.label}
      </div>
    );
  return (
    <div
      role="columnheader"
      class={cls}
      aria-sort={active ? (sort!.desc ? "descending" : "ascending") : "none"}
      data-key={c.key}
      title={c.title + " — click to sort"}
      tabIndex={0}
      onClick={() => onSort(c.key)}
      onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), onSort(c.key))}
    >
      {c.label}
      <span class="lp-sort-arrow">{active ? (sort!.desc ? " ▼" : " ▲") : ""}</span>
    </div>
  );
}
