// Full-width messages: loading, empty (with what to do), error (with Retry).
import type { ComponentChildren } from "preact";

export function Message(props: {
  kind: "empty" | "error" | "loading";
  title: string;
  children?: ComponentChildren;
  onRetry?: () => void;
  /** Instead of (or beside) Retry: an action that can help (e.g. open the latest readable window). */
  action?: { label: string; onClick: () => void };
}) {
  return (
    <div class={`lp-message lp-${props.kind}`} role={props.kind === "error" ? "alert" : "status"} data-testid={`message-${props.kind}`}>
      <div class="lp-message-title">{props.title}</div>
      {props.children ? <div class="lp-message-body">{props.children}</div> : null}
      {props.onRetry ? (
        <button class="lp-button" onClick={props.onRetry}>
          Retry
        </button>
      ) : null}
      {props.action ? (
        <button class="lp-button lp-message-action" data-testid="message-action" onClick={props.action.onClick}>
          {props.action.label}
        </button>
      ) : null}
    </div>
  );
}

/** Windows of the run that cannot be read, named, with why: the run shows the others. */
export function UnreadableNote(props: { items: { tag: string; step: number | null; error: string }[] }) {
  if (!props.items.length) return null;
  return (
    <div class="lp-unreadable" role="status" data-testid="unreadable">
      {props.items.slice(0, 5).map((u) => (
        <div>
          <b>{u.step !== null && Number.isFinite(u.step) ? `Window at step ${u.step}` : `Window ${u.tag}`}</b>
          {` cannot be read and is skipped: ${u.error}`}
        </div>
      ))}
      {props.items.length > 5 ? <div>{`and ${props.items.length - 5} more unreadable windows`}</div> : null}
    </div>
  );
}

export function NoReportsHelp(props: { run?: string; others: string[] }) {
  return (
    <div>
      {props.run !== undefined ? (
        <p>
          Run <code>{props.run}</code> has no layer reports yet.
        </p>
      ) : null}
      <p>
        A report is written at the end of each profile window. If training has not reached the window yet (it is still
        in its warm-up, before <code>profile_batch</code>'s first step) or the window is still running, there is nothing
        to show yet; this page updates when you press Refresh. If the window has passed, look for <code>layerprof</code>{" "}
        warnings in the training log.
      </p>
      <p>To profile a model:</p>
      <pre class="lp-snippet" data-testid="snippet">
        {'from tb_layerprof import LayerProfiler\n\nmodel.fit(x, y, callbacks=[LayerProfiler(log_dir="logs", profile_batch=(3, 5))])'}
      </pre>
      <p>
        then <code>tensorboard --logdir logs</code>.
      </p>
      {props.others.length ? (
        <p>
          Runs without layer reports: <span class="lp-runlist">{props.others.join(", ")}</span>
        </p>
      ) : null}
    </div>
  );
}
