/* Baton: draw a workflow DAG as SVG, with pan and zoom. Hand-written, no dependencies.
 *
 * BatonDag.create(svg, options) -> view
 *   view.render(model)   model = {nodes: [{key, type, task, core}], edges: [{from, to, on}],
 *                                 positions: {key: {x, y}}, status: {key: status}}
 *   view.fit(readable), view.zoomBy(factor), view.toModel(clientX, clientY)
 *   view.highlight(marks)  marks = {nodes: {key: [message]}, edges: [{from, to, messages}]}
 *                          (BatonDagModel.problemMarks): marks them .invalid, messages in their tooltips
 * Positions are a node's top-left corner; START is always drawn (key "start").
 * options.onNodeDown(key, event), onPortDown(key, event), onEdgeClick(from, to, event),
 * onNodeActivate(key, event), onBackgroundDown(event) let the editor and the batch page react;
 * options.autoHeight makes fit() size the canvas to the drawing (read-only views).
 */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var SIZE = { task: [150, 48], and: [64, 48], or: [64, 48], start: [56, 48] };
  // Django's JavaScript catalogue (/jsi18n/, loaded before this script) translates; without it, English.
  var gettext = window.gettext || function (text) { return text; };
  var pgettext = window.pgettext || function (context, text) { return text; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };
  function statusText(status) { return status ? pgettext("status", status) : status; }

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function size(type) { return SIZE[type] || SIZE.task; }

  function taskName(node) {
    if (!node.task) return "";
    return typeof node.task === "string" ? "⇱ " + node.task : node.task.name || "";
  }

  function truncate(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

  // A copy of a map keyed by node key, without a prototype: a node may be called "constructor".
  function byKey(map) { return Object.assign(Object.create(null), map || {}); }

  // A tooltip keeps its own text, so highlight() can replace the messages it appends.
  function title(parent, text) {
    var t = el("title", { "data-text": text }, parent);
    t.textContent = text;
    return t;
  }

  function create(svg, options) {
    options = options || {};
    var view = { scale: 1, tx: 0, ty: 0, model: null, svg: svg };
    svg.innerHTML = "";
    var defs = el("defs", {}, svg);
    var pattern = el("pattern", { id: "dag-dots", width: 20, height: 20, patternUnits: "userSpaceOnUse" }, defs);
    el("circle", { cx: 1, cy: 1, r: 1, fill: "#dde3ea" }, pattern);
    ["plain", "success", "failure", "ghost"].forEach(function (kind) {
      var colour = { plain: "#5b7083", success: "#2e7d32", failure: "#c62828", ghost: "#1565c0" }[kind];
      var marker = el("marker", { id: "dag-arrow-" + kind, viewBox: "0 0 10 10", refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
      el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: colour }, marker);
    });
    var background = el("rect", { class: "dag-grid", x: -5000, y: -5000, width: 10000, height: 10000 }, svg);
    var viewport = el("g", { class: "viewport" }, svg);
    var edgeLayer = el("g", { class: "edges" }, viewport);
    var nodeLayer = el("g", { class: "nodes" }, viewport);
    var overlay = el("g", { class: "overlay" }, viewport);
    view.viewport = viewport;
    view.overlay = overlay;

    function apply() {
      viewport.setAttribute("transform", "translate(" + view.tx + "," + view.ty + ") scale(" + view.scale + ")");
      background.setAttribute("transform", viewport.getAttribute("transform"));
    }

    view.toModel = function (clientX, clientY) {
      var point = svg.createSVGPoint();
      point.x = clientX; point.y = clientY;
      return point.matrixTransform(viewport.getScreenCTM().inverse());
    };

    view.zoomBy = function (factor, clientX, clientY) {
      var rect = svg.getBoundingClientRect();
      var cx = clientX === undefined ? rect.left + rect.width / 2 : clientX;
      var cy = clientY === undefined ? rect.top + rect.height / 2 : clientY;
      var before = view.toModel(cx, cy);
      view.scale = Math.min(3, Math.max(0.25, view.scale * factor));
      apply();
      var after = view.toModel(cx, cy);
      view.tx += (after.x - before.x) * view.scale;
      view.ty += (after.y - before.y) * view.scale;
      apply();
    };

    // `readable`: never below the scale at which the smallest label is 12 px (options.minScale,
    // 1 for the 12-px labels of dag.css); a drawing wider than that pans, and "Fit" shows it whole.
    view.fit = function (readable) {
      var box = bounds();
      var rect = svg.getBoundingClientRect();
      if (!box || !rect.width) return;
      var pad = 30;
      var low = readable ? (options.minScale || 1) : 0.25;
      var high = options.maxScale || 1;
      if (options.autoHeight) {
        // Read-only drawings take the height the drawing needs at the width available; a drawing
        // too wide to be read at that width gets the width it needs, and its box scrolls.
        svg.style.width = "";
        rect = svg.getBoundingClientRect();
        var wide = Math.min(high, Math.max(low, (rect.width - 2 * pad) / box.w));
        if (box.w * wide + 2 * pad > rect.width + 1) svg.style.width = Math.ceil(box.w * wide + 2 * pad) + "px";
        svg.style.height = Math.round(Math.min(640, Math.max(200, box.h * wide + 2 * pad))) + "px";
        rect = svg.getBoundingClientRect();
      }
      view.scale = Math.min(high, Math.max(low, Math.min((rect.width - 2 * pad) / box.w, (rect.height - 2 * pad) / box.h)));
      view.tx = (rect.width - box.w * view.scale) / 2 - box.x * view.scale;
      view.ty = (rect.height - box.h * view.scale) / 2 - box.y * view.scale;
      apply();
    };

    function bounds() {
      var pos = view.model && view.model.positions;
      if (!pos) return null;
      var keys = Object.keys(pos);
      if (!keys.length) return null;
      var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
      keys.forEach(function (k) {
        var s = size(typeOf(k));
        minX = Math.min(minX, pos[k].x); minY = Math.min(minY, pos[k].y);
        maxX = Math.max(maxX, pos[k].x + s[0]); maxY = Math.max(maxY, pos[k].y + s[1] + 14);
      });
      return { x: minX, y: minY, w: Math.max(1, maxX - minX), h: Math.max(1, maxY - minY) };
    }

    function typeOf(key) {
      if (key === "start") return "start";
      var node = (view.model.nodes || []).filter(function (n) { return n.key === key; })[0];
      return node ? node.type : "task";
    }

    view.anchor = function (key, side) {
      var p = view.model.positions[key] || { x: 0, y: 0 };
      var s = size(typeOf(key));
      return side === "out" ? { x: p.x + s[0], y: p.y + s[1] / 2 } : { x: p.x, y: p.y + s[1] / 2 };
    };

    view.curve = function (a, b) {
      var dx = Math.max(40, Math.abs(b.x - a.x) / 2);
      return "M " + a.x + " " + a.y + " C " + (a.x + dx) + " " + a.y + ", " + (b.x - dx) + " " + b.y + ", " + b.x + " " + b.y;
    };

    view.render = function (input) {
      var model = { nodes: input.nodes, edges: input.edges, positions: byKey(input.positions), status: byKey(input.status) };
      view.model = model;
      edgeLayer.innerHTML = "";
      nodeLayer.innerHTML = "";
      var status = model.status;
      (model.edges || []).forEach(function (edge) {
        if (!model.positions[edge.from] || !model.positions[edge.to]) return;
        var on = edge.on || "plain";
        var g = el("g", { class: "dag-edge on-" + on, "data-from": edge.from, "data-to": edge.to, tabindex: options.editable ? 0 : -1,
          role: options.editable ? "button" : "img",
          "aria-label": interpolate(edge.on === "success" ? gettext("edge %(source)s to %(target)s on success")
            : edge.on === "failure" ? gettext("edge %(source)s to %(target)s on failure") : gettext("edge %(source)s to %(target)s"),
          { source: edge.from, target: edge.to }, true) }, edgeLayer);
        var a = view.anchor(edge.from, "out"), b = view.anchor(edge.to, "in");
        var d = view.curve(a, b);
        el("path", { class: "hit", d: d }, g);
        el("path", { class: "line", d: d, "marker-end": "url(#dag-arrow-" + on + ")" }, g);
        if (edge.on) {
          var tag = el("text", { class: "tag", x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 6, "text-anchor": "middle" }, g);
          tag.textContent = edge.on === "success" ? gettext("✓ success") : gettext("✗ failure");
        }
        title(g, edge.from + " → " + edge.to + (edge.on ? " (" + edge.on + ")" : ""));
        if (options.onEdgeClick) {
          g.addEventListener("pointerdown", function (ev) { ev.stopPropagation(); });
          g.addEventListener("click", function (ev) { options.onEdgeClick(edge.from, edge.to, ev); });
          g.addEventListener("keydown", function (ev) {
            if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); options.onEdgeClick(edge.from, edge.to, ev); }
            if (options.onKey) options.onKey(ev, { edge: [edge.from, edge.to] });
          });
        }
      });
      var nodes = [{ key: "start", type: "start" }].concat(model.nodes || []);
      nodes.forEach(function (node) {
        var p = model.positions[node.key];
        if (!p) return;
        var s = size(node.type);
        var classes = "dag-node type-" + node.type + (node.core ? " core" : "");
        var attrs = { class: classes, "data-key": node.key, transform: "translate(" + p.x + "," + p.y + ")",
          tabindex: 0, role: "button", "aria-label": interpolate(gettext("%(type)s node %(node)s"), { type: node.type, node: node.key }, true)
            + (status[node.key] ? ", " + statusText(status[node.key]) : "") };
        if (status[node.key]) attrs["data-status"] = status[node.key];
        var g = el("g", attrs, nodeLayer);
        if (node.type === "start") {
          el("rect", { class: "shape", width: s[0], height: s[1], rx: 24 }, g);
          label(g, "START", s[0] / 2, s[1] / 2 + 4, "label");
        } else if (node.type === "and" || node.type === "or") {
          var w = s[0], h = s[1];
          el("polygon", { class: "shape", points: w / 2 + ",0 " + w + "," + h / 2 + " " + w / 2 + "," + h + " 0," + h / 2 }, g);
          label(g, node.type.toUpperCase(), w / 2, h / 2 + 4, "label");
          label(g, truncate(node.key, 18), w / 2, h + 13, "sub");
        } else {
          el("rect", { class: "shape", width: s[0], height: s[1], rx: 6 }, g);
          label(g, truncate(node.key, 20), 10, 20, "label", "start");
          label(g, truncate(taskName(node), 24), 10, 36, "sub", "start");
          if (node.core) label(g, gettext("CORE"), s[0] - 8, 14, "core-mark", "end");
        }
        if (status[node.key]) label(g, statusText(status[node.key]), s[0] / 2, -5, "sub");
        title(g, node.key + (status[node.key] ? " — " + statusText(status[node.key]) : ""));
        if (options.editable) {
          var port = el("circle", { class: "dag-port", cx: s[0], cy: s[1] / 2, r: 6, "data-key": node.key }, g);
          port.addEventListener("pointerdown", function (ev) {
            ev.stopPropagation();
            if (options.onPortDown) options.onPortDown(node.key, ev);
          });
        }
        g.addEventListener("pointerdown", function (ev) {
          if (options.onNodeDown) { ev.stopPropagation(); options.onNodeDown(node.key, ev); }
        });
        g.addEventListener("click", function (ev) { if (options.onNodeActivate) options.onNodeActivate(node.key, ev); });
        g.addEventListener("keydown", function (ev) {
          if ((ev.key === "Enter" || ev.key === " ") && options.onNodeActivate) { ev.preventDefault(); options.onNodeActivate(node.key, ev); }
          if (options.onKey) options.onKey(ev, { node: node.key });
        });
      });
      if (input.selected) view.select(input.selected);
    };

    function label(parent, text, x, y, cls, anchor) {
      var t = el("text", { x: x, y: y, class: cls, "text-anchor": anchor || "middle" }, parent);
      t.textContent = text;
      return t;
    }

    view.select = function (selection) {
      svg.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
      if (!selection) return;
      var target = selection.node
        ? svg.querySelector('.dag-node[data-key="' + cssEscape(selection.node) + '"]')
        : svg.querySelector('.dag-edge[data-from="' + cssEscape(selection.edge[0]) + '"][data-to="' + cssEscape(selection.edge[1]) + '"]');
      if (target) target.classList.add("selected");
    };

    view.highlight = function (marks) {
      svg.querySelectorAll(".invalid").forEach(function (n) { n.classList.remove("invalid"); });
      svg.querySelectorAll("title[data-text]").forEach(function (t) { t.textContent = t.getAttribute("data-text"); });
      marks = marks || {};
      Object.keys(marks.nodes || {}).forEach(function (key) {
        mark(svg.querySelector('.dag-node[data-key="' + cssEscape(key) + '"]'), marks.nodes[key]);
      });
      (marks.edges || []).forEach(function (edge) {
        mark(svg.querySelector('.dag-edge[data-from="' + cssEscape(edge.from) + '"][data-to="' + cssEscape(edge.to) + '"]'), edge.messages);
      });
    };

    function mark(item, messages) {
      if (!item) return;
      item.classList.add("invalid");
      var t = item.querySelector("title");
      if (t) t.textContent += (messages || []).map(function (m) { return "\n⚠ " + m; }).join("");
    }

    // Pan by dragging the background; zoom with the wheel.
    var pan = null;
    svg.addEventListener("pointerdown", function (ev) {
      if (options.onBackgroundDown) options.onBackgroundDown(ev);
      pan = { x: ev.clientX, y: ev.clientY, tx: view.tx, ty: view.ty };
      svg.classList.add("panning");
    });
    window.addEventListener("pointermove", function (ev) {
      if (!pan) return;
      view.tx = pan.tx + ev.clientX - pan.x;
      view.ty = pan.ty + ev.clientY - pan.y;
      apply();
    });
    window.addEventListener("pointerup", function () { pan = null; svg.classList.remove("panning"); });
    svg.addEventListener("wheel", function (ev) {
      // Read-only drawings leave the wheel to page scrolling unless Ctrl (or a pinch) asks to zoom.
      if (!options.editable && !ev.ctrlKey && !ev.metaKey) return;
      ev.preventDefault();
      view.zoomBy(ev.deltaY < 0 ? 1.1 : 1 / 1.1, ev.clientX, ev.clientY);
    }, { passive: false });
    apply();
    return view;
  }

  function cssEscape(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
  }

  function toolbarButton(parent, id, text, title) {
    var b = document.createElement("button");
    b.type = "button"; b.id = id; b.textContent = text; b.title = title || text;
    parent.appendChild(b);
    return b;
  }

  function zoomControls(toolbar, view) {
    toolbarButton(toolbar, "dag-zoom-in", "+", gettext("Zoom in")).addEventListener("click", function () { view.zoomBy(1.2); });
    toolbarButton(toolbar, "dag-zoom-out", "−", gettext("Zoom out")).addEventListener("click", function () { view.zoomBy(1 / 1.2); });
    toolbarButton(toolbar, "dag-fit", gettext("Fit"), gettext("Fit the drawing")).addEventListener("click", function () { view.fit(); });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      return r.json();
    });
  }

  // A read-only drawing: <div data-baton-drawing="URL"> gets a toolbar and an SVG.
  function mountReadOnly(container) {
    var toolbar = document.createElement("div");
    toolbar.className = "dag-toolbar";
    container.appendChild(toolbar);
    var svg = el("svg", { class: "dag-canvas", id: "dag-canvas", role: "img", "aria-label": gettext("workflow drawing") });
    container.appendChild(svg);
    var view = create(svg, { autoHeight: true });
    zoomControls(toolbar, view);
    getJSON(container.getAttribute("data-baton-drawing")).then(function (data) {
      view.render({ nodes: data.definition.nodes, edges: data.definition.edges, positions: data.positions });
      view.fit(true);
    });
  }

  window.BatonDag = { create: create, size: size, el: el, toolbarButton: toolbarButton, zoomControls: zoomControls,
    getJSON: getJSON, cssEscape: cssEscape };
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-baton-drawing]").forEach(mountReadOnly);
  });
})();
