import { test } from "node:test";
import assert from "node:assert/strict";
import { isDarkFor, readParentPage } from "./theme";

/** A fake page around the tab: `markers` says whether it is TensorBoard's. */
function page(classes: string[], markers = true) {
  return {
    body: { classList: { contains: (c: string) => classes.includes(c) } },
    querySelector: (sel: string) => (markers && sel.includes("tb-webapp") ? {} : null),
  };
}

test("theme: TensorBoard's dark mode wins over the system's preference, both ways", () => {
  const tbDark = readParentPage({ parent: { document: page(["dark-mode"]) } });
  const tbLight = readParentPage({ parent: { document: page([]) } });
  assert.deepEqual(tbDark, { kind: "tensorboard", dark: true });
  assert.deepEqual(tbLight, { kind: "tensorboard", dark: false });
  assert.equal(isDarkFor(tbDark, false), true);
  assert.equal(isDarkFor(tbLight, true), false);
});

test("theme: without a readable TensorBoard page around it, the system's preference", () => {
  const alone: any = {};
  alone.parent = alone; // window.parent of a top-level window is itself
  assert.deepEqual(readParentPage(alone), { kind: "none" });
  const crossOrigin = {
    parent: {
      get document(): never {
        throw new DOMException("Blocked a frame with origin", "SecurityError");
      },
    },
  };
  assert.deepEqual(readParentPage(crossOrigin), { kind: "none" });
  const other = readParentPage({ parent: { document: page(["dark-mode"], false) } });
  assert.deepEqual(other, { kind: "other" });
  assert.deepEqual(readParentPage({ parent: { document: {} } }), { kind: "none" });
  for (const p of [readParentPage(alone), readParentPage(crossOrigin), other]) {
    assert.equal(isDarkFor(p, true), true);
    assert.equal(isDarkFor(p, false), false);
  }
});
