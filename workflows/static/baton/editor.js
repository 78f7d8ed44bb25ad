/* Baton: the visual DAG editor on the workflow change page. Hand-written, no dependencies.
 *
 * It edits the SPEC §10 definition held in the form's `definition` textarea and keeps the
 * two in sync both ways: every edit on the canvas rewrites the textarea; typing in the
 * textarea (under "Edit as JSON") redraws the canvas. Saving stays the admin form's POST.
 * After each change the definition is checked by the server's validator (dry run, debounced)
 * and the offending nodes and edges are highlighted with its messages.
 *
 * Mouse: drag a node to move it; drag from a node's right-hand port onto another node to
 * connect; click an edge to select it (switch success/failure or delete in the panel);
 * drag the background to pan; the wheel zooms.
 * Keyboard: Tab reaches every node and edge; Enter selects; arrow keys move the selected
 * node (Shift: further); Delete removes it; "c" toggles core; "t" switches an edge's trigger;
 * the panel connects nodes with a list and a button.
 */
(function () {
  "use strict";
  var D = window.BatonDag;

  function debounce(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k in node && k !== "list") node[k] = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  // taskKinds: the task kinds the server declares, each with the config a new task of that kind
  // starts with (the page's data-task-kinds); the first is the kind of a task added with "+ Task".
  function Editor(root, taskKinds) {
    var self = this;
    var textarea = document.querySelector('textarea[name="definition"]');
    if (!textarea) return;
    var form = textarea.form;
    var csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
    var urls = { validate: root.dataset.validateUrl, layout: root.dataset.layoutUrl, tasks: root.dataset.tasksUrl };
    var workflowId = root.dataset.workflow || null;
    var doc = null;
    var pos = {};
    var selection = null;
    var problems = [];

    // --- layout of the widget --------------------------------------------------------
    var toolbar = h("div", { className: "dag-toolbar", role: "toolbar", "aria-label": "DAG editor tools" });
    var main = h("div", { className: "dag-main" }, [toolbar]);
    var svg = D.el("svg", { class: "dag-canvas", id: "dag-canvas", role: "application", "aria-label": "workflow DAG editor" });
    main.appendChild(svg);
    var status = h("div", { className: "dag-status-line", id: "dag-status", "aria-live": "polite" });
    var problemList = h("ul", { className: "dag-problems", id: "dag-problems", "aria-live": "polite" });
    main.appendChild(status);
    main.appendChild(problemList);
    var panel = h("div", { className: "dag-panel", id: "dag-panel", "aria-label": "selection" });
    root.appendChild(h("div", { className: "dag-wrap" }, [main, panel]));

    // The textarea moves under "Edit as JSON", still inside the form (so it is what is POSTed).
    var row = textarea.closest(".form-row") || textarea.parentNode;
    var details = h("details", { className: "dag-json", id: "dag-json" }, [h("summary", { text: "Edit as JSON" })]);
    row.parentNode.insertBefore(details, row);
    details.appendChild(row);
    if (row.querySelector(".errorlist")) details.open = true;

    var view = D.create(svg, {
      editable: true,
      onNodeDown: startDrag,
      onPortDown: startConnect,
      onEdgeClick: function (from, to) { select({ edge: [from, to] }); },
      onNodeActivate: function (key, ev) { if (ev.type === "keydown") select({ node: key }); },
      onBackgroundDown: function () { select(null); },
      onKey: onKey
    });

    D.toolbarButton(toolbar, "dag-add-task", "+ Task", "Add a new task node").addEventListener("click", addTask);
    D.toolbarButton(toolbar, "dag-import-task", "Import task…", "Add a node running an existing standalone task").addEventListener("click", showImport);
    D.toolbarButton(toolbar, "dag-add-and", "+ AND", "Add an AND node: waits for all its inputs").addEventListener("click", function () { addLogic("and"); });
    D.toolbarButton(toolbar, "dag-add-or", "+ OR", "Add an OR node: goes on at the first satisfied input").addEventListener("click", function () { addLogic("or"); });
    toolbar.appendChild(h("span", { className: "sep" }));
    D.toolbarButton(toolbar, "dag-layout", "Auto-layout", "Arrange in layers from left to right").addEventListener("click", autoLayout);
    D.zoomControls(toolbar, view);

    // --- model -------------------------------------------------------------------------
    function nodes() { return doc.nodes || (doc.nodes = []); }
    function edges() { return doc.edges || (doc.edges = []); }
    function node(key) { return nodes().filter(function (n) { return n.key === key; })[0]; }
    function typeOf(key) { return key === "start" ? "start" : (node(key) || {}).type; }

    function uniqueKey(base) {
      base = (base || "node").replace(/[^\p{L}\p{M}0-9._-]+/gu, "-").slice(0, 56) || "node";
      var key = base, i = 1;
      while (key === "start" || node(key)) key = base + "-" + (++i);
      return key;
    }

    function freeSpot() {
      // The first free cell of a grid over the visible canvas, left to right, top to bottom;
      // when the visible part is full, zoom out a little and look again.
      for (var attempt = 0; attempt < 6; attempt++) {
        var spot = visibleFreeSpot();
        if (spot) return spot;
        view.zoomBy(0.85);
      }
      var lowest = Math.max.apply(null, Object.keys(pos).map(function (k) { return pos[k].y; }));
      return { x: 40, y: Math.round(lowest + 80) };
    }

    function visibleFreeSpot() {
      var rect = svg.getBoundingClientRect();
      var topLeft = view.toModel(rect.left + 20, rect.top + 20);
      var bottomRight = view.toModel(rect.right - 20, rect.bottom - 20);
      var taken = function (x, y) {
        return Object.keys(pos).some(function (k) { return Math.abs(pos[k].x - x) < 170 && Math.abs(pos[k].y - y) < 70; });
      };
      for (var y = topLeft.y; y + 48 <= bottomRight.y; y += 80) {
        for (var x = topLeft.x; x + 150 <= bottomRight.x; x += 190) {
          if (!taken(x, y)) return { x: Math.round(x), y: Math.round(y) };
        }
      }
      return null;
    }

    function addNode(item) {
      nodes().push(item);
      pos[item.key] = freeSpot();
      changed();
      select({ node: item.key });
    }

    function addTask() {
      var key = uniqueKey("task-" + (nodes().length + 1));
      var name = ((doc.name || "task") + "-" + key).slice(0, 64);
      var kind = Object.keys(taskKinds)[0];
      addNode({ key: key, type: "task", task: { name: name, kind: kind, config: JSON.parse(JSON.stringify(taskKinds[kind])) } });
      var input = panel.querySelector("#node-key");
      if (input) { input.focus(); input.select(); }
    }

    function addLogic(type) { addNode({ key: uniqueKey(type), type: type }); }

    function removeNode(key) {
      if (key === "start") return;
      doc.nodes = nodes().filter(function (n) { return n.key !== key; });
      doc.edges = edges().filter(function (e) { return e.from !== key && e.to !== key; });
      delete pos[key];
      selection = null;
      changed();
    }

    function renameNode(oldKey, newKey) {
      newKey = newKey.trim();
      if (!newKey || newKey === oldKey) return true;
      if (newKey === "start" || node(newKey)) return false;
      node(oldKey).key = newKey;
      edges().forEach(function (e) { if (e.from === oldKey) e.from = newKey; if (e.to === oldKey) e.to = newKey; });
      pos[newKey] = pos[oldKey];
      delete pos[oldKey];
      selection = { node: newKey };
      changed();
      return true;
    }

    function connect(from, to) {
      if (!to || from === to || to === "start") return;
      var existing = edges().filter(function (e) { return e.from === from && e.to === to; })[0];
      if (!existing) {
        var edge = { from: from, to: to };
        if (typeOf(from) === "task") edge.on = "success";
        edges().push(edge);
        changed();
      }
      select({ edge: [from, to] });
    }

    function edge(pair) { return edges().filter(function (e) { return e.from === pair[0] && e.to === pair[1]; })[0]; }

    function toggleEdge(pair) {
      var e = edge(pair);
      if (!e || typeOf(e.from) !== "task") return;
      e.on = e.on === "failure" ? "success" : "failure";
      changed();
      select({ edge: pair });
    }

    function removeEdge(pair) {
      doc.edges = edges().filter(function (e) { return !(e.from === pair[0] && e.to === pair[1]); });
      selection = null;
      changed();
    }

    // --- sync --------------------------------------------------------------------------
    function writeTextarea() {
      nodes().forEach(function (n) {
        if (pos[n.key]) n.position = { x: Math.round(pos[n.key].x), y: Math.round(pos[n.key].y) };
      });
      textarea.value = JSON.stringify(doc, null, 2);
    }

    function changed() {
      writeTextarea();
      draw();
      root.dataset.state = "pending";
      validateSoon();
    }

    function draw() {
      var focused = document.activeElement;
      var refocus = focused && svg.contains(focused) ? focused.getAttribute("data-key") || focused.getAttribute("data-from") : null;
      view.render({ nodes: nodes(), edges: edges(), positions: pos, selected: selection });
      view.highlight(problems);
      if (refocus && selection) {
        var target = selection.node
          ? svg.querySelector('.dag-node[data-key="' + D.cssEscape(selection.node) + '"]')
          : svg.querySelector('.dag-edge[data-from="' + D.cssEscape(selection.edge[0]) + '"][data-to="' + D.cssEscape(selection.edge[1]) + '"]');
        if (target) target.focus();
      }
    }

    function readTextarea(initial) {
      var parsed;
      try {
        parsed = JSON.parse(textarea.value);
      } catch (err) {
        doc = doc || { nodes: [], edges: [] };
        showProblems([{ text: "Edit as JSON: " + err.message, nodes: [], edges: [] }], true);
        return Promise.resolve(false);
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        showProblems([{ text: "the definition must be a JSON object", nodes: [], edges: [] }], true);
        return Promise.resolve(false);
      }
      doc = parsed;
      var missing = false;
      var keep = {};
      nodes().forEach(function (n) {
        if (!n || typeof n.key !== "string") return;
        var p = n.position;
        if (p && typeof p.x === "number" && typeof p.y === "number") keep[n.key] = { x: p.x, y: p.y };
        else if (pos[n.key]) keep[n.key] = pos[n.key];
        else missing = true;
      });
      keep.start = pos.start;
      pos = keep;
      if (selection && selection.node && !node(selection.node) && selection.node !== "start") selection = null;
      var ready = missing || !pos.start ? fetchLayout(missing) : Promise.resolve();
      return ready.then(function () {
        draw();
        if (initial) view.fit();
        validate();
        return true;
      });
    }

    function fetchLayout(all) {
      return post(urls.layout, { definition: doc }).then(function (data) {
        var computed = data.positions;
        Object.keys(computed).forEach(function (k) { if (all || !pos[k]) pos[k] = computed[k]; });
        if (!all) placeStart();
      });
    }

    function placeStart() {
      var keys = Object.keys(pos).filter(function (k) { return k !== "start"; });
      if (!keys.length) { pos.start = { x: 40, y: 40 }; return; }
      var minX = Math.min.apply(null, keys.map(function (k) { return pos[k].x; }));
      var kids = edges().filter(function (e) { return e.from === "start" && pos[e.to]; }).map(function (e) { return pos[e.to].y; });
      var ys = kids.length ? kids : keys.map(function (k) { return pos[k].y; });
      pos.start = { x: minX - 200, y: ys.reduce(function (a, b) { return a + b; }, 0) / ys.length };
    }

    function autoLayout() {
      post(urls.layout, { definition: doc }).then(function (data) {
        pos = {};
        Object.keys(data.positions).forEach(function (k) { pos[k] = data.positions[k]; });
        changed();
        view.fit();
      });
    }

    // --- validation ----------------------------------------------------------------------
    function post(url, body) {
      return fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
        body: JSON.stringify(body)
      }).then(function (r) { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.json(); });
    }

    var sequence = 0;
    function validate() {
      var mine = ++sequence;
      root.dataset.state = "pending";
      status.textContent = "Checking…";
      return post(urls.validate, { definition: doc, workflow: workflowId }).then(function (data) {
        if (mine !== sequence) return;
        showProblems(data.problems, false);
      }).catch(function (err) {
        if (mine === sequence) status.textContent = "Could not check the definition: " + err.message;
      });
    }
    var validateSoon = debounce(validate, 350);

    function showProblems(list, local) {
      problems = list;
      view.highlight(problems);
      problemList.innerHTML = "";
      problemList.className = "dag-problems" + (list.length ? "" : " ok");
      root.dataset.state = list.length ? "invalid" : "valid";
      status.textContent = list.length
        ? (local ? "" : "The validator found " + list.length + " problem" + (list.length > 1 ? "s" : "") + "; saving is refused until they are fixed.")
        : "";
      if (!list.length) problemList.appendChild(h("li", { text: "✓ No rule violations." }));
      list.forEach(function (p) {
        var li = h("li", { text: p.text || p.message, tabIndex: 0 });
        var first = (p.nodes || [])[0];
        var firstEdge = (p.edges || [])[0];
        if (first || firstEdge) {
          var go = function () { select(first && first !== "start" && node(first) ? { node: first } : firstEdge ? { edge: firstEdge } : null); };
          li.addEventListener("click", go);
          li.addEventListener("keydown", function (ev) { if (ev.key === "Enter") go(); });
        }
        problemList.appendChild(li);
      });
    }

    // --- pointer interaction -------------------------------------------------------------
    function startDrag(key, ev) {
      select({ node: key });
      var origin = view.toModel(ev.clientX, ev.clientY);
      var start = { x: pos[key].x, y: pos[key].y };
      var moved = false;
      function move(e) {
        var p = view.toModel(e.clientX, e.clientY);
        var dx = p.x - origin.x, dy = p.y - origin.y;
        if (!moved && Math.abs(dx) + Math.abs(dy) < 3) return;
        moved = true;
        pos[key] = { x: Math.round(start.x + dx), y: Math.round(start.y + dy) };
        draw();
      }
      function up() {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
        if (moved) { writeTextarea(); }
      }
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    }

    function startConnect(key, ev) {
      var a = view.anchor(key, "out");
      var ghost = D.el("path", { class: "dag-ghost", "marker-end": "url(#dag-arrow-ghost)" }, view.overlay);
      function move(e) {
        var p = view.toModel(e.clientX, e.clientY);
        ghost.setAttribute("d", view.curve(a, { x: p.x, y: p.y }));
      }
      function up(e) {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
        ghost.remove();
        var hit = document.elementFromPoint(e.clientX, e.clientY);
        var target = hit && hit.closest ? hit.closest(".dag-node") : null;
        if (target) connect(key, target.getAttribute("data-key"));
      }
      move(ev);
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    }

    function onKey(ev, what) {
      if (what.node) {
        var key = what.node;
        var step = ev.shiftKey ? 40 : 10;
        var delta = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
        if (delta) {
          ev.preventDefault();
          selection = { node: key };
          pos[key] = { x: pos[key].x + delta[0], y: pos[key].y + delta[1] };
          writeTextarea();
          draw();
        } else if ((ev.key === "Delete" || ev.key === "Backspace") && key !== "start") {
          ev.preventDefault();
          removeNode(key);
        } else if (ev.key === "c" && typeOf(key) === "task") {
          node(key).core = !node(key).core;
          if (!node(key).core) delete node(key).core;
          selection = { node: key };
          changed();
        }
      } else if (what.edge) {
        if (ev.key === "Delete" || ev.key === "Backspace") { ev.preventDefault(); removeEdge(what.edge); }
        else if (ev.key === "t") { selection = { edge: what.edge }; toggleEdge(what.edge); }
      }
    }

    // --- the side panel ------------------------------------------------------------------
    function select(next) {
      selection = next;
      view.select(selection);
      renderPanel();
    }

    function field(labelText, input) {
      var id = input.id;
      return [h("label", { htmlFor: id, text: labelText }), input];
    }

    function connectControls(key) {
      var choices = nodes().filter(function (n) {
        return n.key !== key && !edges().some(function (e) { return e.from === key && e.to === n.key; });
      });
      var list = h("select", { id: "connect-target" }, choices.map(function (n) { return h("option", { value: n.key, text: n.key + " (" + n.type + ")" }); }));
      var button = h("button", { type: "button", id: "connect-button", text: "Connect →" });
      button.addEventListener("click", function () { connect(key, list.value); });
      return [h("label", { htmlFor: "connect-target", text: "Add an edge from " + key + " to" }), h("div", { className: "row" }, [list, button])];
    }

    function renderPanel() {
      panel.innerHTML = "";
      var parts = [];
      if (!selection) {
        parts.push(h("h3", { text: "Workflow" }));
        [["name", "wf-name", "Name"], ["team", "wf-team", "Team"], ["description", "wf-description", "Description"]].forEach(function (f) {
          var input = h("input", { type: "text", id: f[1], value: doc[f[0]] || "", maxLength: f[0] === "description" ? 1000 : 64 });
          input.addEventListener("input", function () { doc[f[0]] = input.value; changed(); });
          parts = parts.concat(field(f[2], input));
        });
        parts.push(h("p", { className: "hint", text: "Trigger, timeout and policies: Edit as JSON below." }));
        parts.push(h("p", { className: "hint", text: "Add nodes with the toolbar. Drag a node to move it; drag from its right-hand dot onto another node to connect them; click an edge to switch success/failure or delete it. Tab reaches every node and edge." }));
      } else if (selection.node === "start") {
        parts.push(h("h3", { text: "START" }));
        parts.push(h("p", { className: "hint", text: "The implicit root: every node must be reachable from it." }));
        parts = parts.concat(connectControls("start"));
      } else if (selection.node) {
        parts = parts.concat(nodePanel(node(selection.node)));
      } else if (selection.edge) {
        parts = parts.concat(edgePanel(edge(selection.edge)));
      }
      parts.forEach(function (p) { if (p) panel.appendChild(p); });
    }

    function nodePanel(item) {
      if (!item) return [];
      var parts = [h("h3", { text: item.type === "task" ? "Task node" : item.type.toUpperCase() + " node" })];
      var keyInput = h("input", { type: "text", id: "node-key", value: item.key, maxLength: 64 });
      keyInput.addEventListener("change", function () {
        if (!renameNode(item.key, keyInput.value)) { keyInput.setCustomValidity("key is taken or reserved"); keyInput.reportValidity(); }
        else { keyInput.setCustomValidity(""); renderPanel(); }
      });
      parts = parts.concat(field("Key", keyInput));
      if (item.type === "task") {
        if (typeof item.task === "string") {
          parts.push(h("p", { className: "hint", text: "Runs the standalone task “" + item.task + "” (imported; its own trigger turns off)." }));
        } else {
          item.task = item.task || { name: "", kind: Object.keys(taskKinds)[0], config: {} };
          var name = h("input", { type: "text", id: "task-name", value: item.task.name || "", maxLength: 64 });
          name.addEventListener("input", function () { item.task.name = name.value; changed(); });
          var kind = h("select", { id: "task-kind" }, Object.keys(taskKinds).map(function (k) { return h("option", { value: k, text: k }); }));
          kind.value = item.task.kind || Object.keys(taskKinds)[0];
          var config = h("textarea", { id: "task-config", rows: 5, spellcheck: false, value: JSON.stringify(item.task.config || {}, null, 2) });
          kind.addEventListener("change", function () {
            item.task.kind = kind.value;
            item.task.config = JSON.parse(JSON.stringify(taskKinds[kind.value]));
            config.value = JSON.stringify(item.task.config, null, 2);
            changed();
          });
          config.addEventListener("input", function () {
            try {
              item.task.config = JSON.parse(config.value);
              config.setCustomValidity("");
              changed();
            } catch (err) { config.setCustomValidity("not valid JSON: " + err.message); }
          });
          parts = parts.concat(field("Task name", name), field("Kind", kind), field("Config (JSON)", config));
        }
        var core = h("input", { type: "checkbox", id: "node-core", checked: !!item.core });
        core.addEventListener("change", function () {
          if (core.checked) item.core = true; else delete item.core;
          changed();
        });
        parts.push(h("label", { htmlFor: "node-core" }, [core, document.createTextNode(" Core node (decides the batch result)")]));
      }
      parts = parts.concat(connectControls(item.key));
      var del = h("button", { type: "button", id: "node-delete", text: "Delete node" });
      del.addEventListener("click", function () { removeNode(item.key); });
      parts.push(h("div", { className: "row" }, [del]));
      return parts;
    }

    function edgePanel(item) {
      if (!item) return [];
      var parts = [h("h3", { text: "Edge " + item.from + " → " + item.to })];
      var buttons = [];
      if (typeOf(item.from) === "task") {
        parts.push(h("p", { text: "Followed when " + item.from + " " + (item.on === "failure" ? "fails (or times out)" : "succeeds") + "." }));
        var toggle = h("button", { type: "button", id: "edge-toggle", text: "Switch to " + (item.on === "failure" ? "success" : "failure") });
        toggle.addEventListener("click", function () { toggleEdge([item.from, item.to]); });
        buttons.push(toggle);
      } else {
        parts.push(h("p", { className: "hint", text: "Edges leaving START or a logic node carry no trigger." }));
      }
      var del = h("button", { type: "button", id: "edge-delete", text: "Delete edge" });
      del.addEventListener("click", function () { removeEdge([item.from, item.to]); });
      buttons.push(del);
      parts.push(h("div", { className: "row" }, buttons));
      return parts;
    }

    function showImport() {
      panel.innerHTML = "";
      panel.appendChild(h("h3", { text: "Import a standalone task" }));
      var list = h("select", { id: "import-task-select" });
      var add = h("button", { type: "button", id: "import-task-add", text: "Add node" });
      panel.appendChild(h("label", { htmlFor: "import-task-select", text: "Tasks of team " + (doc.team || "") + " not in any workflow" }));
      panel.appendChild(h("div", { className: "row" }, [list, add]));
      D.getJSON(urls.tasks + "?team=" + encodeURIComponent(doc.team || "")).then(function (data) {
        var used = nodes().map(function (n) { return typeof n.task === "string" ? n.task : n.task && n.task.name; });
        data.tasks.filter(function (t) { return used.indexOf(t.name) < 0; }).forEach(function (t) {
          list.appendChild(h("option", { value: t.name, text: t.name + " (" + t.kind + ")" }));
        });
        if (!list.options.length) { list.appendChild(h("option", { value: "", text: "— none —" })); add.disabled = true; }
        list.focus();
      });
      add.addEventListener("click", function () {
        if (list.value) addNode({ key: uniqueKey(list.value), type: "task", task: list.value });
      });
    }

    // Enter in a panel field applies it instead of submitting the admin form.
    panel.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && ev.target.tagName === "INPUT") {
        ev.preventDefault();
        ev.target.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
    textarea.addEventListener("input", debounce(function () { readTextarea(false); }, 400));
    readTextarea(true).then(function () { renderPanel(); });
    self.view = view;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("dag-editor");
    if (root) window.batonEditor = new Editor(root, JSON.parse(root.dataset.taskKinds));
  });
})();
