// TensorBoard's look: Roboto, #f57c00 accent, #425066 slate, compact density; the dark
// rules apply under <html class="lp-dark"> (theme.ts: TensorBoard's dark mode, else the
// system's preference), so the look switches live with TensorBoard's setting.
const LIGHT_RULES = `
html, body { margin: 0; padding: 0; background: #f5f5f5; }
body { font-family: Roboto, sans-serif; font-size: 13px; color: #212121; }
.lp-app { padding: 12px 16px 32px; }
.lp-toolbar { display: flex; align-items: center; gap: 16px; flex-wrap: wrap; margin-bottom: 12px; }
.lp-field { display: inline-flex; align-items: center; gap: 6px; color: #616161; }
.lp-field select { font: inherit; padding: 3px 4px; max-width: 360px; border: 1px solid #bdbdbd; border-radius: 3px; background: #fff; }
.lp-spacer { flex: 1; }
.lp-muted { color: #757575; }
.lp-button { font: inherit; font-weight: 500; color: ${"#f57c00"}; background: #fff; border: 1px solid #e0e0e0; border-radius: 3px; padding: 4px 10px; cursor: pointer; text-transform: uppercase; font-size: 12px; }
.lp-button:hover { background: #fff3e0; }
.lp-link { font: inherit; color: #f57c00; background: none; border: 0; padding: 2px 0; cursor: pointer; }
.lp-card { background: #fff; border-radius: 4px; box-shadow: 0 1px 3px rgba(0,0,0,.16); padding: 10px 14px; margin-bottom: 14px; }
.lp-card h2 { font-size: 15px; font-weight: 500; margin: 0 8px 6px 0; color: #425066; }
.lp-card-head { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; margin-bottom: 8px; }
.lp-card-head h2 { margin-bottom: 0; }
.lp-grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 14px; align-items: start; }
@media (max-width: 1000px) { .lp-grid { grid-template-columns: minmax(0, 1fr); } }
.lp-facts { color: #616161; margin: 0 0 10px; }
.lp-warning { color: #bf360c; margin-top: 4px; }
.lp-message { background: #fff; border-radius: 4px; box-shadow: 0 1px 3px rgba(0,0,0,.16); padding: 16px 20px; max-width: 820px; }
.lp-message-title { font-size: 15px; font-weight: 500; color: #425066; margin-bottom: 6px; }
.lp-error .lp-message-title { color: #c62828; }
.lp-message-body { color: #424242; line-height: 1.5; margin-bottom: 8px; }
.lp-message code, .lp-facts code { background: #f5f5f5; padding: 0 3px; border-radius: 2px; }
.lp-loading .lp-message-title::after { content: ""; display: inline-block; width: 10px; height: 10px; margin-left: 8px; border: 2px solid #f57c00; border-right-color: transparent; border-radius: 50%; animation: lp-spin .8s linear infinite; }
@keyframes lp-spin { to { transform: rotate(360deg); } }
.lp-diagnoses { margin-bottom: 8px; }
.lp-diag { border-left: 3px solid #f57c00; padding: 4px 8px; margin-bottom: 6px; background: #fff8f0; }
.lp-diag.lp-info { border-left-color: #425066; background: #f4f6f8; }
.lp-code { font-family: "Roboto Mono", monospace; font-size: 11px; background: #fff; border: 1px solid #e0e0e0; border-radius: 2px; padding: 0 4px; color: #425066; }
.lp-diag-layer { font-weight: 500; word-break: break-all; }
.lp-columns { position: relative; }
.lp-columns summary { list-style: none; }
.lp-columns summary::-webkit-details-marker { display: none; }
.lp-columns-menu { position: absolute; right: 0; z-index: 5; background: #fff; border: 1px solid #e0e0e0; border-radius: 3px; box-shadow: 0 2px 6px rgba(0,0,0,.2); padding: 6px 10px; display: grid; gap: 2px; min-width: 180px; }
.lp-columns-menu label { display: flex; gap: 6px; align-items: center; white-space: nowrap; }
.lp-diag-time, .lp-evidence { color: #757575; }
.lp-diag { min-width: 0; overflow-wrap: anywhere; }
.lp-diag-message { margin: 2px 0; line-height: 1.4; }
.lp-diag-message code { font-family: "Roboto Mono", monospace; font-size: 12px; background: rgba(0,0,0,.06); padding: 0 3px; border-radius: 2px; }
.lp-evidence { font-size: 12px; border-collapse: collapse; margin-top: 2px; table-layout: fixed; width: 100%; max-width: 520px; }
.lp-evidence th { text-align: left; font-weight: 400; width: 40%; padding: 0 8px 0 0; vertical-align: top; }
.lp-evidence td { padding: 0; color: #424242; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; vertical-align: top; }
.lp-filter { font: inherit; padding: 3px 6px; border: 1px solid #bdbdbd; border-radius: 3px; width: 220px; }
.lp-check { display: inline-flex; align-items: center; gap: 4px; color: #616161; }
.lp-table { position: relative; overflow: auto; border: 1px solid #e0e0e0; border-radius: 2px; }
.lp-thead { position: sticky; top: 0; z-index: 2; display: grid; background: #fafafa; border-bottom: 1px solid #e0e0e0; }
.lp-th { display: flex; align-items: center; padding: 0 6px; font-weight: 500; color: #425066; cursor: pointer; user-select: none; white-space: nowrap; overflow: hidden; }
.lp-th.lp-num { justify-content: flex-end; }
.lp-th.lp-sorted { color: #f57c00; }
.lp-th:focus { outline: 1px dotted #f57c00; }
.lp-tbody { position: relative; }
.lp-row { position: absolute; left: 0; right: 0; height: 24px; display: grid; align-items: center; border-bottom: 1px solid #f0f0f0; background: #fff; }
.lp-row.lp-odd { background: #fcfcfc; }
.lp-row:hover { background: #fff3e0; }
.lp-row:focus { outline: none; }
.lp-row:focus-visible { outline: 2px solid #f57c00; outline-offset: -2px; }
.lp-cell { padding: 0 6px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-variant-numeric: tabular-nums; }
.lp-cell.lp-num { text-align: right; }
.lp-cell.lp-arrow { font-size: 12px; padding: 0 4px; }
.lp-name { display: flex; align-items: center; }
.lp-path { overflow: hidden; text-overflow: ellipsis; }
.lp-expander { border: 0; background: none; cursor: pointer; width: 16px; padding: 0; color: #616161; font-size: 11px; flex: none; }
.lp-expander-pad { display: inline-block; width: 16px; flex: none; }
.lp-hint-badge { background: #f57c00; color: #fff; border-radius: 8px; padding: 0 6px; font-size: 11px; }
.lp-custom { color: #425066; font-size: 11px; border: 1px solid #c5cad3; border-radius: 2px; padding: 0 3px; }
.lp-chart { width: 100%; }
.lp-chips { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 6px; }
.lp-chip { background: #eceff1; border-radius: 12px; padding: 2px 4px 2px 10px; max-width: 420px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.lp-row { cursor: pointer; }
.lp-row.lp-selected, .lp-row.lp-selected:hover { background: #ffe0b2; box-shadow: inset 3px 0 0 #d50000; }
.lp-path { flex: 0 1 auto; }
.lp-trace { margin-left: 8px; font-size: 11px; color: #f57c00; text-decoration: none; visibility: hidden; flex: none; }
.lp-row:hover .lp-trace, .lp-row.lp-selected .lp-trace, .lp-trace:focus { visibility: visible; }
.lp-trace:hover, .lp-trace-window:hover { text-decoration: underline; }
.lp-trace-window { color: #f57c00; text-decoration: none; }
a.lp-button { text-decoration: none; }
.lp-legend { color: #616161; font-size: 12px; }
.lp-legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 3px 0 8px; vertical-align: -1px; }
.lp-legend-group { margin-left: 10px; padding-left: 10px; border-left: 1px solid #e0e0e0; }
.lp-legend i.lp-legend-roof { width: 14px; height: 0; border-top: 2px dashed #9e9e9e; border-radius: 0; vertical-align: 3px; }
.lp-cell.lp-unknown { color: #9e9e9e; }
.lp-selected-spans { margin-top: 6px; color: #424242; word-break: break-all; }
.lp-tabs { display: inline-flex; border: 1px solid #e0e0e0; border-radius: 3px; overflow: hidden; }
.lp-tab { font: inherit; font-size: 12px; font-weight: 500; text-transform: uppercase; color: #616161; background: #fff; border: 0; padding: 4px 12px; cursor: pointer; }
.lp-tab + .lp-tab { border-left: 1px solid #e0e0e0; }
.lp-tab.lp-tab-on { color: #fff; background: #f57c00; }
.lp-tab:disabled { color: #bdbdbd; cursor: default; }
.lp-small-table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
.lp-small-table th { text-align: left; font-weight: 500; color: #425066; padding: 3px 6px; border-bottom: 1px solid #e0e0e0; white-space: nowrap; }
.lp-small-table td { padding: 3px 6px; border-bottom: 1px solid #f0f0f0; white-space: nowrap; }
.lp-small-table .lp-num { text-align: right; }
.lp-small-table tr.lp-clickable { cursor: pointer; }
.lp-small-table tr.lp-clickable:hover { background: #fff3e0; }
.lp-small-table tr.lp-selected { background: #ffe0b2; }
.lp-path-cell { max-width: 420px; overflow: hidden; text-overflow: ellipsis; }
.lp-better { color: #2e7d32; }
.lp-worse { color: #c62828; }
.lp-status { font-size: 11px; border-radius: 2px; padding: 0 4px; border: 1px solid; }
.lp-status-added { color: #1565c0; border-color: #90caf9; }
.lp-status-removed { color: #6d4c41; border-color: #bcaaa4; }
.lp-status-changed { color: #6a1b9a; border-color: #ce93d8; }
.lp-status-both { color: #757575; border-color: transparent; }
.lp-class-change { margin-left: 6px; font-size: 11px; color: #6a1b9a; flex: none; max-width: 60%; overflow: hidden; text-overflow: ellipsis; }
.lp-row.lp-diff-removed .lp-cell:first-child { text-decoration: line-through; color: #757575; }
.lp-speedup { margin: 8px 0 4px; font-weight: 500; color: #425066; }
.lp-straggler { margin-bottom: 8px; line-height: 1.5; }
.lp-straggler-layer { font-weight: 500; word-break: break-all; }
.lp-hostbars { margin-bottom: 10px; }
.lp-hostbar { display: grid; grid-template-columns: minmax(80px, 200px) minmax(0, 1fr) auto; gap: 8px; align-items: center; padding: 2px 0; }
.lp-hostbar-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.lp-hostbar-track { display: flex; background: #f5f5f5; height: 12px; border-radius: 2px; overflow: hidden; }
.lp-hostbar .lp-bar, .lp-bar-cell .lp-bar { display: block; height: 12px; background: #425066; border-radius: 2px; }
.lp-hostbar.lp-slowest .lp-bar { background: #f57c00; }
.lp-hostbar .lp-bar.lp-bar-wait { background: #cfd8dc; border-radius: 0; }
.lp-hostbar.lp-slowest .lp-hostbar-name { font-weight: 500; color: #e65100; }
.lp-hostbar-value { color: #616161; font-variant-numeric: tabular-nums; }
.lp-bar-cell { width: 30%; }
.lp-detail { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 14px; margin: 0 0 8px; }
.lp-detail dt { color: #757575; }
.lp-detail dd { margin: 0; font-variant-numeric: tabular-nums; }
.lp-detail-path { word-break: break-all; }
.lp-replicas h3 { font-size: 13px; font-weight: 500; color: #425066; margin: 10px 0 4px; }
.lp-split { display: grid; grid-template-columns: minmax(0, 1fr); gap: 14px; align-items: start; }
.lp-split-open { grid-template-columns: minmax(0, 1fr) minmax(300px, 380px); }
.lp-split > .lp-card { margin-bottom: 14px; min-width: 0; }
.lp-split-open > [data-testid=layer-detail] { position: sticky; top: 8px; max-height: calc(100vh - 16px); overflow: auto; }
@media (max-width: 900px) { .lp-split-open { grid-template-columns: minmax(0, 1fr); } .lp-split-open > [data-testid=layer-detail] { position: static; max-height: none; } }
.lp-snippet { font-family: "Roboto Mono", monospace; font-size: 12px; background: #f5f5f5; border: 1px solid #e0e0e0; border-radius: 3px; padding: 8px 10px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; }
.lp-message-action { margin-left: 8px; }
.lp-unreadable { background: #fff8e1; border-left: 3px solid #ffa000; padding: 6px 10px; margin: 0 0 10px; color: #5d4037; overflow-wrap: anywhere; border-radius: 2px; }
.lp-basis-note { color: #757575; font-size: 12px; margin: 6px 0 0; line-height: 1.4; }
.lp-diag-select { cursor: pointer; }
.lp-diag-group { margin-bottom: 6px; }
.lp-diag-group .lp-diag { margin-bottom: 0; }
.lp-diag-eg { font-size: inherit; max-width: 100%; overflow-wrap: anywhere; text-align: left; }
.lp-group-toggle { font-size: 12px; margin-left: 11px; }
.lp-group-list { margin: 2px 0 0 11px; padding: 0 0 0 14px; max-height: 240px; overflow: auto; font-size: 12px; }
.lp-group-list button { overflow-wrap: anywhere; text-align: left; }
.lp-row.lp-group-row { background: #eceff1; font-weight: 500; }
.lp-row.lp-group-row:hover { background: #e3e7ea; }
.lp-diag-select:hover { background: #ffe9cc; }
.lp-diag-select:focus-visible { outline: 2px solid #f57c00; outline-offset: 1px; }
.lp-ops h3 { font-size: 13px; font-weight: 500; color: #425066; margin: 10px 0 4px; }
.lp-op-table { table-layout: fixed; margin-bottom: 8px; font-size: 12px; }
.lp-op-table th, .lp-op-table td { padding: 2px 4px; }
.lp-op-table thead th:nth-child(1) { width: auto; }
.lp-op-table thead th.lp-num { width: 54px; }
.lp-op-table td.lp-op-name { white-space: normal; overflow-wrap: anywhere; }
.lp-op-table td.lp-op-type { overflow: hidden; text-overflow: ellipsis; }
.lp-op-name .lp-op-type { color: #757575; font-size: 11px; white-space: nowrap; }
.lp-op-phase th { color: #757575; font-weight: 500; background: #fafafa; }
.lp-chip-x { border: 0; background: none; cursor: pointer; color: #616161; font-size: 14px; line-height: 1; }
`;

const DARK_RULES = `
html, body { background: #303030; }
body { color: #e0e0e0; }
.lp-card, .lp-message { background: #3a3a3a; box-shadow: 0 1px 3px rgba(0,0,0,.5); }
.lp-card h2, .lp-message-title, .lp-th, .lp-small-table th, .lp-speedup, .lp-replicas h3 { color: #b0bccf; }
.lp-basis-note, .lp-muted, .lp-facts, .lp-field, .lp-check, .lp-legend, .lp-hostbar-value, .lp-detail dt, .lp-diag-time, .lp-evidence { color: #a8a8a8; }
.lp-message-body, .lp-selected-spans { color: #d0d0d0; }
.lp-field select, .lp-filter, .lp-button, .lp-tab { background: #2b2b2b; color: #e0e0e0; border-color: #5a5a5a; }
.lp-button, .lp-link, .lp-trace, .lp-trace-window { color: #ffa040; }
.lp-button:hover, .lp-row:hover, .lp-small-table tr.lp-clickable:hover { background: #4a3a28; }
.lp-tabs, .lp-tab + .lp-tab, .lp-table, .lp-thead, .lp-small-table th { border-color: #555; }
.lp-tab.lp-tab-on { color: #fff; background: #f57c00; }
.lp-tab:disabled { color: #777; }
.lp-thead { background: #444; }
.lp-row { background: #3a3a3a; border-bottom-color: #474747; }
.lp-row.lp-odd { background: #3e3e3e; }
.lp-row.lp-selected, .lp-row.lp-selected:hover, .lp-small-table tr.lp-selected { background: #5c4120; }
.lp-small-table td { border-bottom-color: #474747; }
.lp-expander, .lp-chip-x { color: #bdbdbd; }
.lp-diag { background: #45392c; }
.lp-diag-select:hover { background: #57452f; }
.lp-columns-menu { background: #3a3a3a; border-color: #555; }
.lp-row.lp-group-row { background: #454b52; }
.lp-row.lp-group-row:hover { background: #4f565e; }
.lp-diag.lp-info { background: #3a4048; border-left-color: #8a9ab5; }
.lp-ops h3 { color: #b0bccf; }
.lp-op-phase th { color: #a8a8a8; background: #444; }
.lp-op-name .lp-op-type { color: #a8a8a8; }
.lp-diag-message code { background: rgba(255,255,255,.1); }
.lp-evidence td { color: #d0d0d0; }
.lp-code { background: #2b2b2b; border-color: #5a5a5a; color: #b0bccf; }
.lp-custom { color: #b0bccf; border-color: #6a7385; }
.lp-message code, .lp-facts code { background: #2b2b2b; }
.lp-snippet { background: #2b2b2b; border-color: #555; color: #e0e0e0; }
.lp-unreadable { background: #4a3f26; color: #ffe0b2; }
.lp-chip { background: #4a4f57; }
.lp-legend-group { border-left-color: #555; }
.lp-warning { color: #ff8a65; }
.lp-error .lp-message-title, .lp-worse { color: #ef7070; }
.lp-better { color: #81c784; }
.lp-status-added { color: #90caf9; border-color: #42709a; }
.lp-status-removed { color: #bcaaa4; border-color: #7a6a64; }
.lp-status-changed, .lp-class-change { color: #ce93d8; }
.lp-status-changed { border-color: #7b5a85; }
.lp-status-both { color: #9e9e9e; }
.lp-row.lp-diff-removed .lp-cell:first-child { color: #9e9e9e; }
.lp-hostbar-track { background: #2b2b2b; }
.lp-hostbar .lp-bar, .lp-bar-cell .lp-bar { background: #8a9ab5; }
.lp-hostbar .lp-bar.lp-bar-wait { background: #5f6a70; }
.lp-hostbar.lp-slowest .lp-hostbar-name { color: #ffa040; }
`;

/** Each rule of `rules` (flat: no at-rules) scoped under <html class="lp-dark">. */
export function darkScoped(rules: string): string {
  return rules.replace(/([^{}]+)\{/g, (_, sel: string) => {
    const scoped = sel
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => (x === "html" ? "html.lp-dark" : `html.lp-dark ${x}`));
    return `${scoped.join(", ")} {`;
  });
}

export const CSS = LIGHT_RULES + darkScoped(DARK_RULES);
