"""Chapter 12's drawing canvas: an `anywidget` (a few lines of JavaScript, no build step) and the playground around it.

`Sketchpad` draws white strokes on black, as MNIST's digits are; "read it" sends the canvas to Python as a PNG
(`image`) and counts the presses (`reads`), "clear" wipes it. `playground(...)` puts it beside a choice of
MNIST's preprocessing and of one digit or a 2×2 grid, and shows what the course's saved models read, using the
same functions the chapter runs on test digits (`mnistkit.playground`).
"""
from __future__ import annotations

import anywidget
import traitlets

ESM = """
function render({ model, el }) {
  const size = model.get("size");
  const box = document.createElement("div");
  box.className = "mnistkit-sketchpad";
  box.style.cssText = `position:relative;width:${size}px;height:${size}px;border:1px solid #888`;
  const canvas = document.createElement("canvas");
  canvas.width = size; canvas.height = size;
  canvas.style.cssText = "display:block;background:#000;touch-action:none;cursor:crosshair";
  const ctx = canvas.getContext("2d");
  // The 2x2 guide is drawn over the canvas, not on it, so it never reaches the models as ink.
  const guide = document.createElement("div");
  guide.style.cssText = "position:absolute;inset:0;pointer-events:none;" +
    "background:linear-gradient(#666,#666) center/1px 100% no-repeat,linear-gradient(#666,#666) center/100% 1px no-repeat";
  const showGuide = () => { guide.style.display = model.get("grid") ? "block" : "none"; };
  const wipe = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, size, size); };
  wipe(); showGuide();
  let drawing = false;
  const at = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true; canvas.setPointerCapture(e.pointerId);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = model.get("stroke"); ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(...at(e)); ctx.lineTo(...at(e)); ctx.stroke();
  });
  canvas.addEventListener("pointermove", (e) => { if (drawing) { ctx.lineTo(...at(e)); ctx.stroke(); } });
  const stop = () => { drawing = false; };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointerleave", stop);
  const button = (text, name, act) => {
    const b = document.createElement("button");
    b.textContent = text; b.className = `jupyter-button mnistkit-${name}`; b.style.margin = "4px 4px 0 0";
    b.addEventListener("click", act); return b;
  };
  const read = button("read it", "read", () => {
    model.set("image", canvas.toDataURL("image/png"));
    model.set("reads", model.get("reads") + 1);
    model.save_changes();
  });
  const clear = button("clear", "clear", () => { wipe(); model.set("image", ""); model.save_changes(); });
  model.on("change:grid", showGuide);
  box.append(canvas, guide);
  el.append(box, read, clear);
}
export default { render };
"""


class Sketchpad(anywidget.AnyWidget):
    """A black square to draw on with the mouse (or a finger); "read it" sends it to Python."""
    _esm = ESM
    size = traitlets.Int(280).tag(sync=True)  # pixels: 10× MNIST's 28
    stroke = traitlets.Int(22).tag(sync=True)  # pen width in pixels: about MNIST's strokes at this scale
    grid = traitlets.Bool(False).tag(sync=True)  # show the 2×2 guide (chapter 10's four digits)
    image = traitlets.Unicode("").tag(sync=True)  # the canvas as a PNG data URL, set by "read it"
    reads = traitlets.Int(0).tag(sync=True)  # how many times "read it" was pressed


def playground(readers: dict, grid_model=None):
    """The sketchpad, a checkbox for MNIST's steps, a choice of one digit or a 2×2 grid, and an output area where
    each press of "read it" shows the steps, every model's answer (and the ViT's attention), or chapter 10's four
    digits with its cross-attention. Returns the widget to display."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    from . import playground as pg

    pad = Sketchpad()
    steps = widgets.Checkbox(value=True, description="MNIST's steps (crop, 20×20, centre of mass)", indent=False)
    mode = widgets.ToggleButtons(options=["one digit", "2×2 grid"] if grid_model is not None else ["one digit"])
    out = widgets.Output()

    def show(_change=None) -> None:
        pad.grid = mode.value == "2×2 grid"
        with out:
            out.clear_output(wait=True)
            if not pad.image:
                display(Markdown("_Draw, then press **read it**._"))
                return
            drawing = pg.decode_png(pad.image)
            if mode.value == "2×2 grid":
                grid = pg.prepare_grid(pg.split_quadrants(drawing), steps.value)
                digits, probabilities, cross = pg.read_grid(grid_model, grid)
                display(Markdown(f"**read {pad.reads}:** chapter 10 reads {''.join(map(str, digits))} "
                                 f"(ink pixels in the 56×56 input: {int((grid > pg.INK).sum())})"))
                display(pg.grid_figure(grid, digits, probabilities, cross))
            else:
                try:
                    image = pg.prepare(drawing, steps.value)
                except ValueError as error:  # a blank canvas
                    display(Markdown(f"_{error}_"))
                    return
                answers = ", ".join(f"{name} {int(r.read(image).argmax())}" for name, r in readers.items())
                display(Markdown(f"**read {pad.reads}:** {answers} (ink pixels in the 28×28 input: "
                                 f"{int((image > pg.INK).sum())})"))
                if steps.value:
                    display(pg.steps_figure(drawing, "MNIST's steps on your drawing"))
                display(pg.answers_figure(image, readers, "each model's probabilities"))
            plt.close("all")

    pad.observe(show, names="reads")
    mode.observe(show, names="value")
    steps.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([pad, widgets.VBox([steps, mode])]), out])
