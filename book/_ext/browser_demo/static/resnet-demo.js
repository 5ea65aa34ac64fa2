/* Chapter 7: the book's ResNet classifying the reader's image in the browser, with ONNX Runtime Web.
 *
 * Everything comes from the folder this script was served from (_static/resnet-demo/):
 * resnet-demo.json (written by resnetbook.onnx_export), the ONNX model, and ONNX Runtime
 * Web's single-threaded WebAssembly build. No other host is contacted, and nothing leaves
 * the reader's machine. The model loads when the demo scrolls into view.
 *
 * The preprocessing repeats the chapter's (resnetbook.images; the spec is written by
 * onnx_export.preprocessing_spec): luma or RGB, antialiased bilinear resizing with
 * PyTorch's weights (torch's _upsample_bilinear2d_aa, as Pillow computes them), a centre
 * crop, mean and std. Where the two can still differ: the resize runs in double precision
 * here and in 32-bit floats in PyTorch, so a value that lands within rounding of a half may
 * round the other way in ImageNet's 8-bit resize (one level of 255, rarely); a JPEG may
 * decode slightly differently; the browser applies an image's EXIF orientation, which PIL
 * ignores; translucent pixels differ (PIL drops alpha, a canvas premultiplies it).
 */
(() => {
  "use strict";
  const root = document.getElementById("resnet-demo");
  if (!root) return;
  const here = new URL(".", document.currentScript.src).href;
  const element = (tag, props = {}, children = []) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };

  // ------------------------------------------------------------ the preprocessing

  /** PyTorch's antialiased bilinear weights for resizing `inSize` samples to `outSize`. */
  function aaWeights(inSize, outSize) {
    const scale = inSize / outSize, support = scale >= 1 ? scale : 1, invscale = scale >= 1 ? 1 / scale : 1;
    const taps = [];
    for (let i = 0; i < outSize; i++) {
      const center = scale * (i + 0.5);
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
      const w = [];
      for (let j = xmin; j < xmax; j++) w.push(Math.max(0, 1 - Math.abs((j - center + 0.5) * invscale)));
      const total = w.reduce((a, b) => a + b, 0);
      taps.push({ xmin, w: w.map((v) => (total > 0 ? v / total : 0)) });
    }
    return taps;
  }

  /** Resize one HxW plane (Float64Array) to oh x ow: along rows first, then along columns, as PyTorch does. */
  function resize(plane, h, w, oh, ow) {
    let tmp = plane;
    if (ow !== w) {
      const taps = aaWeights(w, ow);
      tmp = new Float64Array(h * ow);
      for (let y = 0; y < h; y++) for (let x = 0; x < ow; x++) {
        const t = taps[x];
        let s = 0;
        for (let k = 0; k < t.w.length; k++) s += t.w[k] * plane[y * w + t.xmin + k];
        tmp[y * ow + x] = s;
      }
    }
    if (oh === h) return tmp;
    const taps = aaWeights(h, oh), out = new Float64Array(oh * ow);
    for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
      const t = taps[y];
      let s = 0;
      for (let k = 0; k < t.w.length; k++) s += t.w[k] * tmp[(t.xmin + k) * ow + x];
      out[y * ow + x] = s;
    }
    return out;
  }

  /** Python's round(): halves to even (torch.round, as torchvision rounds a resized 8-bit image). */
  const roundHalfEven = (v) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));

  /** The model's input (Float32Array, C x H x W) for RGBA pixels `{data, width, height}`, following `spec`. */
  function preprocess(pixels, spec) {
    const { data, width: w, height: h } = pixels, n = w * h;
    if (spec.kind === "gray") {  // ITU-R 601 luma of values in [0, 1], as resnetbook.images.to_gray_tensor
      let plane = new Float64Array(n);
      for (let i = 0; i < n; i++) plane[i] = (0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2]) / 255;
      const s = spec.size;
      if (h !== s || w !== s) plane = resize(plane, h, w, s, s);
      return Float32Array.from(plane, (v) => (v - spec.mean[0]) / spec.std[0]);
    }
    // rgb: shorter side to spec.resize (torchvision's resize of a uint8 image: floats, rounded), centre crop
    const short = Math.min(h, w), oh = h <= w ? spec.resize : Math.trunc(spec.resize * h / short);
    const ow = w <= h ? spec.resize : Math.trunc(spec.resize * w / short), c = spec.crop;
    const top = roundHalfEven((oh - c) / 2), left = roundHalfEven((ow - c) / 2);
    const out = new Float32Array(3 * c * c);
    for (let ch = 0; ch < 3; ch++) {
      const plane = new Float64Array(n);
      for (let i = 0; i < n; i++) plane[i] = data[4 * i + ch];
      const big = resize(plane, h, w, oh, ow).map(roundHalfEven);  // resized as floats, rounded to 8 bits
      for (let y = 0; y < c; y++) for (let x = 0; x < c; x++)
        out[ch * c * c + y * c + x] = (big[(y + top) * ow + x + left] / 255 - spec.mean[ch]) / spec.std[ch];
    }
    return out;
  }

  /** The `k` most probable classes: [{name, index, probability}], from the logits (softmax in double precision). */
  function topK(logits, categories, k) {
    const max = Math.max(...logits), e = Array.from(logits, (v) => Math.exp(v - max));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v, index) => ({ index, name: categories[index], probability: v / total }))
      .sort((a, b) => b.probability - a.probability || a.index - b.index).slice(0, k);
  }

  window.resnetDemo = { preprocess, topK };  // for the tests (tests/test_browser_demo.py)

  // ------------------------------------------------------------ the page

  const input = element("input", { type: "file", accept: "image/*", className: "resnet-demo-input" });
  // The drop zone is for the mouse only; keyboards reach the file input inside it (Space opens
  // the file picker), so the zone itself stays out of the tab order.
  const drop = element("div", { className: "resnet-demo-drop" },
    ["Drop an image here, or ", element("label", {}, ["choose one: ", input])]);
  const status = element("p", { className: "resnet-demo-status", role: "status" }, ["The model loads when you reach this demo."]);
  // The picture of the model's input; its text alternative is written with each result (describeSeen).
  const seen = element("canvas", { className: "resnet-demo-seen", width: 112, height: 112, title: "what the network sees" });
  seen.setAttribute("role", "img");
  const rows = element("tbody");
  const table = element("table", { className: "resnet-demo-top5 table" }, [
    element("caption", {}, ["Top 5 of the book's ResNet for your image"]),
    element("thead", {}, [element("tr", {}, [element("th", {}, ["class"]), element("th", {}, ["probability"])])]),
    rows]);
  table.hidden = true;
  root.replaceChildren(drop, status, element("div", { className: "resnet-demo-result" }, [seen, table]));

  const say = (text, state) => { status.textContent = text; root.dataset.state = state; };
  const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
  let ready = null;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = element("script", { src, async: true });
      script.onload = resolve;
      script.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.append(script);
    });
  }

  async function load() {
    if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
    const start = performance.now();
    const config = await (await fetch(here + "resnet-demo.json")).json();
    await loadScript(here + "ort.wasm.min.js");
    Object.assign(ort.env.wasm, { numThreads: 1, proxy: false, wasmPaths: here });  // no SharedArrayBuffer needed
    const session = await ort.InferenceSession.create(here + config.model, { executionProviders: ["wasm"] });
    const ms = performance.now() - start;
    root.dataset.loadMs = ms.toFixed(0);
    say(`Model ${config.model}: ${mb(config.model_bytes)} (${config.quantized ? "8-bit" : "32-bit"} weights, ` +
        `${config.weights}), loaded in ${ms.toFixed(0)} ms with ONNX Runtime Web (WebAssembly). ` +
        `Choose an image.`, "ready");
    return { config, session, loadMs: ms };
  }

  const start = () => (ready ??= load().catch((err) => {
    say(`The demo could not start here (${err.message}). The table below the demo was computed by the book's build.`, "error");
    throw err;
  }));

  function pixelsOf(bitmap) {
    const canvas = element("canvas", { width: bitmap.width, height: bitmap.height });
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, bitmap.width, bitmap.height);
  }

  function show(x, shape, spec) {  // the model's input, denormalized, as the network sees it
    const [, c, h, w] = shape, small = element("canvas", { width: w, height: h }), ctx = small.getContext("2d");
    const image = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) for (let k = 0; k < 3; k++) {
      const ch = c === 1 ? 0 : k;
      image.data[4 * i + k] = 255 * (x[ch * h * w + i] * spec.std[ch] + spec.mean[ch]);
    }
    for (let i = 0; i < h * w; i++) image.data[4 * i + 3] = 255;
    ctx.putImageData(image, 0, 0);
    const big = seen.getContext("2d");
    big.imageSmoothingEnabled = false;
    big.drawImage(small, 0, 0, seen.width, seen.height);
    seen.setAttribute("aria-label", describeSeen(shape, spec));
  }

  /** The canvas's text alternative: what the network receives, in words. */
  function describeSeen(shape, spec) {
    const [, c, h, w] = shape;
    const colour = c === 1 ? "in shades of grey (the image's luma)" : "in colour";
    const how = spec.kind === "gray" ? `resized to ${w} by ${h} pixels`
      : `its shorter side resized to ${spec.resize} pixels and the centre ${w} by ${h} cropped`;
    return `What the network sees: your image ${how}, ${colour}, enlarged to ${seen.width} pixels.`;
  }

  async function classify(file) {
    let model;
    try { model = await start(); } catch { return; }
    const { config, session } = model;
    say(`Classifying ${file.name} ...`, "busy");
    try {
      // Pixels as stored in the file, as PIL reads them: no colour-profile conversion, no premultiplied alpha.
      const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
      const x = preprocess(pixelsOf(bitmap), config.preprocess);
      show(x, config.input.shape, config.preprocess);
      const t0 = performance.now();
      const outputs = await session.run({ [config.input.name]: new ort.Tensor("float32", x, config.input.shape) });
      const ms = performance.now() - t0;
      const top = topK(outputs[config.output].data, config.categories, 5);
      rows.replaceChildren(...top.map((row) => element("tr", { className: "resnet-demo-row" }, [
        element("td", { className: "resnet-demo-class" }, [row.name]),
        element("td", { className: "resnet-demo-prob" }, [`${(100 * row.probability).toFixed(2)}%`])])));
      rows.querySelectorAll("tr").forEach((tr, i) => { tr.dataset.probability = String(top[i].probability); });
      table.hidden = false;
      root.dataset.inferenceMs = ms.toFixed(1);
      say(`${file.name}: ${top[0].name} (${(100 * top[0].probability).toFixed(1)}%), in ${ms.toFixed(0)} ms. ` +
          `Model ${mb(config.model_bytes)}, loaded in ${model.loadMs.toFixed(0)} ms.`, "done");
    } catch (err) {
      say(`Could not classify ${file.name}: ${err.message}`, "error");
    }
  }

  input.addEventListener("change", () => input.files.length && classify(input.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) classify(event.dataTransfer.files[0]);
  });
  if (typeof WebAssembly !== "object") {
    say("This browser has no WebAssembly, so the demo cannot run here. The table below was computed by the book's build.", "error");
    drop.hidden = true;
  } else if ("IntersectionObserver" in window) {
    new IntersectionObserver((entries, observer) => {
      if (entries.some((e) => e.isIntersecting)) { observer.disconnect(); start().catch(() => {}); }
    }, { rootMargin: "300px" }).observe(root);
  }
})();
