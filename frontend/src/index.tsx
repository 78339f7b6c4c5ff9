// Entry point: TensorBoard's plugin_entry.html imports this module and calls render().
import { render as preactRender } from "preact";
import { prefetch, routeUrl } from "./api/client";
import { App } from "./views/App";
import { CSS } from "./views/styles";
import { startTheme } from "./views/theme";

export function render(): void {
  prefetch(routeUrl("runs")); // the first answer the tab needs, asked before it is built
  startTheme(); // TensorBoard's dark mode (or the system's), followed from now on
  const style = document.createElement("style");
  style.textContent = CSS;
  document.head.appendChild(style);
  const root = document.createElement("div");
  root.id = "layerprof-root";
  document.body.appendChild(root);
  preactRender(<App />, root);
}
