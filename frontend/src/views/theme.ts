// The tab's theme, live: TensorBoard's dark mode (a MutationObserver on the `class` of its
// page's <body>, which TensorBoard toggles when the user switches dark mode in its
// settings), else the system's preference (a prefers-color-scheme listener). The page's
// <html> carries `lp-dark` (the CSS's dark rules, styles.ts); charts and colours read
// `useDark()` and are re-themed when it changes, without a reload.
import { useEffect, useState } from "preact/hooks";
import { isDarkFor, readParentPage } from "../models/theme";
import { Palette, palette } from "./colors";

let dark = false;
let started = false;
const listeners = new Set<(dark: boolean) => void>();

const media = (): MediaQueryList | null =>
  typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null;

function update(): void {
  const next = isDarkFor(readParentPage(window), !!media()?.matches);
  if (started && next === dark) return;
  dark = next;
  const root = document.documentElement;
  root.classList.toggle("lp-dark", dark);
  root.style.colorScheme = dark ? "dark" : "light"; // form controls and scrollbars too
  root.dataset.theme = dark ? "dark" : "light";
  listeners.forEach((f) => f(dark));
}

/** Reads the theme and starts following it (once; before the first render). */
export function startTheme(): void {
  if (started) return;
  update();
  started = true;
  const mq = media();
  if (mq) mq.addEventListener("change", update);
  try {
    const body = window.parent !== window ? window.parent.document.body : null;
    if (body) {
      const obs = new MutationObserver(update);
      obs.observe(body, { attributes: true, attributeFilter: ["class"] });
      // The observer lives in this frame: stop it when TensorBoard removes the tab's iframe.
      window.addEventListener("pagehide", () => obs.disconnect());
    }
  } catch {
    // A page of another origin around the tab: nothing to follow but the system.
  }
}

/** The current theme (false before startTheme). */
export const isDark = (): boolean => dark;

/** True while the tab is dark; re-renders the component when that changes. */
export function useDark(): boolean {
  const [d, setD] = useState(dark);
  useEffect(() => {
    listeners.add(setD);
    setD(dark); // changed between the render and this effect
    return () => {
      listeners.delete(setD);
    };
  }, []);
  return d;
}

/** The tab's colours for the current theme (charts' options depend on them). */
export const useColors = (): Palette => palette(useDark());
