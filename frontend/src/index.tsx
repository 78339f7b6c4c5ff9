// Entry point: TensorBoard's plugin_entry.html imports this module and calls render().
import { render as preactRender } from "preact";
import { App } from "./views/App";
import { CSS } from "./views/styles";
import { startTheme } from "./views/theme";

export function render(): void {
  startTheme(); // TensorBoard's dark mode (or the system's), followed from now on
  const style = document.createElement("style");
  style.textContent = CSS;
  document.head.appendChild(style);
  const root = document.createElement("div");
  root.id = "layerprof-root";
  document.body.appendChild(root);
  preactRender(<App />, root);
}
