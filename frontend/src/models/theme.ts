// Light or dark: the tab follows TensorBoard's own dark mode (its settings' Light / Dark /
// Browser default, which TensorBoard shows as a `dark-mode` class on its page's <body>),
// and the system's preference (prefers-color-scheme) when the tab has no TensorBoard page
// around it (its iframe URL opened alone, or a page of another origin embedding it).

/** What the tab can see of the page around its iframe. */
export type ParentPage =
  /** No page around the tab (opened alone), or one of another origin (not readable). */
  | { kind: "none" }
  /** A readable page that is not TensorBoard's: it says nothing about dark mode. */
  | { kind: "other" }
  /** TensorBoard's page: dark when its <body> has the `dark-mode` class. */
  | { kind: "tensorboard"; dark: boolean };

/** True when the tab should be dark. */
export function isDarkFor(parent: ParentPage, prefersDark: boolean): boolean {
  return parent.kind === "tensorboard" ? parent.dark : prefersDark;
}

/** Elements only TensorBoard's page has (its app, the component toggling `dark-mode`). */
export const TENSORBOARD_MARKERS = "tb-webapp, dark-mode-supporter";

/** Reads the page around the tab (`win`: the tab's window). Never throws: a page of another
 * origin (reading its document throws a SecurityError) counts as none. */
export function readParentPage(win: { parent: any }): ParentPage {
  try {
    const p = win.parent;
    if (!p || p === win) return { kind: "none" };
    const doc = p.document;
    const body = doc && doc.body;
    if (!body) return { kind: "none" };
    if (!doc.querySelector(TENSORBOARD_MARKERS)) return { kind: "other" };
    return { kind: "tensorboard", dark: body.classList.contains("dark-mode") };
  } catch {
    return { kind: "none" };
  }
}
