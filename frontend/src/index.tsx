// Entry point: TensorBoard's plugin_entry.html imports this module and calls render().
import { render as preactRender } from "preact";
import { App } from "./views/App";
import { CSS } from "./views/styles";

export function render(): void {
  const style = document.createElement("style");
  style.textContent = CSS;
  document.head.appendChild(style);
  const root = document.createElement("div");
  root.id = "layerprof-root";
  document.body.appendChild(root);
  preactRender(<App />, root);
}
