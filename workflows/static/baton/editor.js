/* Baton: the visual DAG editor on the workflow change page. Hand-written, no dependencies.
 *
 * It edits the SPEC §10 definition held in the form's `definition` textarea and keeps the
 * two in sync both ways: every edit on the canvas rewrites the textarea; typing in the
 * textarea (under "Edit as JSON") redraws the canvas. Saving stays the admin form's POST.
 * After each change the definition is checked by the server's validator (dry run, debounced)
 * and the offending nodes and edges are highlighted with its messages.
 *
 * This file is the DOM half: the widget, pointer and keyboard input, the side panel and the
 * server calls. The definition, the positions and every edit of them are the pure model's
 * (dag-model.js, BatonDagModel, tested under tests/js/); drawing is dag.js's (BatonDag).
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
  var M = window.BatonDagModel;
  // Django's JavaScript catalogue (/jsi18n/, loaded before this script) translates; without it, English.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, count) { return count === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

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
  // callables: the registered python callables and their arguments (data-callables).
  function Editor(root, taskKinds, callables) {
    var self = this;
    var textarea = document.querySelector('textarea[name="definition"]');
    if (!textarea) return;
    var form = textarea.form;
    var csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
    var urls = { validate: root.dataset.validateUrl, layout: root.dataset.layoutUrl, tasks: root.dataset.tasksUrl };
    var workflowId = root.dataset.workflow || null;
    var model = new M.DagModel();
    var selection = null;
    var problems = [];

    // --- layout of the widget --------------------------------------------------------
    var toolbar = h("div", { className: "dag-toolbar", role: "toolbar", "aria-label": gettext("DAG editor tools") });
    var main = h("div", { className: "dag-main" }, [toolbar]);
    var svg = D.el("svg", { class: "dag-canvas", id: "dag-canvas", role: "application", "aria-label": gettext("workflow DAG editor") });
    main.appendChild(svg);
    var status = h("div", { className: "dag-status-line", id: "dag-status", "aria-live": "polite" });
    var problemList = h("ul", { className: "dag-problems", id: "dag-problems", "aria-live": "polite" });
    main.appendChild(status);
    main.appendChild(problemList);
    var panel = h("div", { className: "dag-panel", id: "dag-panel", "aria-label": gettext("selection") });
    root.appendChild(h("div", { className: "dag-wrap" }, [main, panel]));

    // The textarea moves under "Edit as JSON", still inside the form (so it is what is POSTed).
    var row = textarea.closest(".form-row") || textarea.parentNode;
    var details = h("details", { className: "dag-json", id: "dag-json" }, [h("summary", { text: gettext("Edit as JSON") })]);
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

    D.toolbarButton(toolbar, "dag-add-task", gettext("+ Task"), gettext("Add a new task node")).addEventListener("click", addTask);
    D.toolbarButton(toolbar, "dag-import-task", gettext("Import task…"), gettext("Add a node running an existing standalone task")).addEventListener("click", showImport);
    D.toolbarButton(toolbar, "dag-add-and", gettext("+ AND"), gettext("Add an AND node: waits for all its inputs")).addEventListener("click", function () { addLogic("and"); });
    D.toolbarButton(toolbar, "dag-add-or", gettext("+ OR"), gettext("Add an OR node: goes on at the first satisfied input")).addEventListener("click", function () { addLogic("or"); });
    toolbar.appendChild(h("span", { className: "sep" }));
    D.toolbarButton(toolbar, "dag-layout", gettext("Auto-layout"), gettext("Arrange in layers from left to right")).addEventListener("click", autoLayout);
    D.zoomControls(toolbar, view);

    // --- edits: each is one model call, then the textarea, the drawing and the panel follow ----
    function freeSpot() {
      // A free spot in the visible part of the canvas; when it is full, zoom out a little and look again.
      for (var attempt = 0; attempt < 6; attempt++) {
        var rect = svg.getBoundingClientRect();
        var topLeft = view.toModel(rect.left + 20, rect.top + 20);
        var bottomRight = view.toModel(rect.right - 20, rect.bottom - 20);
        var spot = model.freeSpot({ left: topLeft.x, top: topLeft.y, right: bottomRight.x, bottom: bottomRight.y });
        if (spot) return spot;
        view.zoomBy(0.85);
      }
      return model.spotBelow();
    }

    function added(key) {
      changed();
      select({ node: key });
    }

    function addTask() {
      var kind = Object.keys(taskKinds)[0];
      added(model.addTask(kind, taskKinds[kind], freeSpot()));
      var input = panel.querySelector("#node-key");
      if (input) { input.focus(); input.select(); }
    }

    function addLogic(type) { added(model.addLogic(type, freeSpot())); }

    function removeNode(key) {
      if (!model.removeNode(key)) return;
      selection = null;
      changed();
      renderPanel();
    }

    function connect(from, to) {
      if (model.connect(from, to)) changed();
      if (model.edge(from, to)) select({ edge: [from, to] });
    }

    function switchTrigger(pair) {
      if (!model.switchTrigger(pair[0], pair[1])) return;
      selection = { edge: pair };
      changed();
      renderPanel();
    }

    function removeEdge(pair) {
      if (!model.removeEdge(pair[0], pair[1])) return;
      selection = null;
      changed();
      renderPanel();
    }

    // --- sync --------------------------------------------------------------------------
    function writeTextarea() { textarea.value = model.serialize(); }

    function changed() {
      writeTextarea();
      draw();
      root.dataset.state = "pending";
      validateSoon();
    }

    function draw() {
      var focused = document.activeElement;
      var refocus = focused && svg.contains(focused) ? focused.getAttribute("data-key") || focused.getAttribute("data-from") : null;
      view.render({ nodes: model.nodes(), edges: model.edges(), positions: model.positions, selected: selection });
      view.highlight(M.problemMarks(problems));
      if (refocus && selection) {
        var target = selection.node
          ? svg.querySelector('.dag-node[data-key="' + D.cssEscape(selection.node) + '"]')
          : svg.querySelector('.dag-edge[data-from="' + D.cssEscape(selection.edge[0]) + '"][data-to="' + D.cssEscape(selection.edge[1]) + '"]');
        if (target) target.focus();
      }
    }

    function readTextarea(initial) {
      var result = model.read(textarea.value);
      if (result.error) {
        showProblems([{ text: interpolate(gettext("Edit as JSON: %(error)s"), { error: result.error }, true), nodes: [], edges: [] }], true);
        renderPanel();
        return Promise.resolve(false);
      }
      if (!model.contains(selection)) selection = null;
      var ready = result.needsLayout ? fetchLayout() : Promise.resolve();
      return ready.then(function () {
        draw();
        if (initial) view.fit();
        renderPanel();
        validate();
        return true;
      });
    }

    function fetchLayout() {
      return post(urls.layout, { definition: model.doc }).then(function (data) { model.applyLayout(data.positions); });
    }

    function autoLayout() {
      fetchLayout().then(function () {
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
      status.textContent = gettext("Checking…");
      return post(urls.validate, { definition: model.doc, workflow: workflowId }).then(function (data) {
        if (mine !== sequence) return;
        showProblems(data.problems, false);
      }).catch(function (err) {
        if (mine === sequence) status.textContent = interpolate(gettext("Could not check the definition: %(error)s"), { error: err.message }, true);
      });
    }
    var validateSoon = debounce(validate, 350);

    function showProblems(list, local) {
      problems = list;
      showFieldProblems();
      view.highlight(M.problemMarks(problems));
      problemList.innerHTML = "";
      problemList.className = "dag-problems" + (list.length ? "" : " ok");
      root.dataset.state = list.length ? "invalid" : "valid";
      status.textContent = list.length
        ? (local ? "" : interpolate(ngettext(
          "The validator found %(count)s problem; saving is refused until they are fixed.",
          "The validator found %(count)s problems; saving is refused until they are fixed.", list.length), { count: list.length }, true))
        : "";
      if (!list.length) problemList.appendChild(h("li", { text: gettext("✓ No rule violations.") }));
      list.forEach(function (p) {
        var li = h("li", { text: p.text || p.message, tabIndex: 0 });
        if ((p.nodes || []).length || (p.edges || []).length) {
          var go = function () { select(model.problemTarget(p)); };
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
      var start = model.positions[key];
      var moved = false;
      function move(e) {
        var p = view.toModel(e.clientX, e.clientY);
        var dx = p.x - origin.x, dy = p.y - origin.y;
        if (!moved && Math.abs(dx) + Math.abs(dy) < 3) return;
        moved = model.moveTo(key, start.x + dx, start.y + dy);
        draw();
      }
      function up() {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
        if (moved) writeTextarea();
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
          if (!model.moveBy(key, delta[0], delta[1])) return;
          selection = { node: key };
          writeTextarea();
          draw();
          renderPanel();
        } else if ((ev.key === "Delete" || ev.key === "Backspace") && key !== M.START) {
          ev.preventDefault();
          removeNode(key);
        } else if (ev.key === "c" && model.toggleCore(key)) {
          selection = { node: key };
          changed();
          renderPanel();
        }
      } else if (what.edge) {
        if (ev.key === "Delete" || ev.key === "Backspace") { ev.preventDefault(); removeEdge(what.edge); }
        else if (ev.key === "t") switchTrigger(what.edge);
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
      var choices = model.nodes().filter(function (n) { return n.key !== key && !model.edge(key, n.key); });
      var list = h("select", { id: "connect-target" }, choices.map(function (n) { return h("option", { value: n.key, text: n.key + " (" + n.type + ")" }); }));
      var button = h("button", { type: "button", id: "connect-button", text: gettext("Connect →") });
      button.addEventListener("click", function () { connect(key, list.value); });
      return [h("label", { htmlFor: "connect-target", text: interpolate(gettext("Add an edge from %(node)s to"), { node: key }, true) }), h("div", { className: "row" }, [list, button])];
    }

    function renderPanel() {
      panel.innerHTML = "";
      taskForm = null;
      var parts = [];
      if (!selection) {
        parts.push(h("h3", { text: gettext("Workflow") }));
        // The team, the trigger, the timeout and the policies are the settings form's (workflow-settings.js).
        [["name", "wf-name", gettext("Name")], ["description", "wf-description", gettext("Description")]].forEach(function (f) {
          var input = h("input", { type: "text", id: f[1], value: model.doc[f[0]] || "", maxLength: f[0] === "description" ? 1000 : 64 });
          input.addEventListener("input", function () { if (model.setSetting(f[0], input.value)) changed(); });
          parts = parts.concat(field(f[2], input));
        });
        parts.push(h("p", { className: "hint", text: gettext("Team, trigger, timeout and policies: in Settings below.") }));
        parts.push(h("p", { className: "hint", text: gettext("Add nodes with the toolbar. Drag a node to move it; drag from its right-hand dot onto another node to connect them; click an edge to switch success/failure or delete it. Tab reaches every node and edge.") }));
      } else if (selection.node === M.START) {
        parts.push(h("h3", { text: "START" }));
        parts.push(h("p", { className: "hint", text: gettext("The implicit root: every node must be reachable from it.") }));
        parts = parts.concat(connectControls(M.START));
      } else if (selection.node) {
        parts = parts.concat(nodePanel(selection.node));
      } else if (selection.edge) {
        parts = parts.concat(edgePanel(selection.edge));
      }
      parts.forEach(function (p) { if (p) panel.appendChild(p); });
    }

    function nodePanel(key) {
      var item = model.node(key);
      if (!item) return [];
      var parts = [h("h3", { text: item.type === "task" ? gettext("Task node") : item.type === "and" ? gettext("AND node") : gettext("OR node") })];
      var keyInput = h("input", { type: "text", id: "node-key", value: key, maxLength: 64 });
      keyInput.addEventListener("change", function () {
        var renamed = model.renameNode(key, keyInput.value);
        if (renamed === null) { keyInput.setCustomValidity(gettext("key is taken or reserved")); keyInput.reportValidity(); return; }
        keyInput.setCustomValidity("");
        if (renamed !== key) { selection = { node: renamed }; changed(); }
        renderPanel();
      });
      parts = parts.concat(field(gettext("Key"), keyInput));
      if (item.type === "task") {
        if (typeof item.task === "string") {
          parts.push(h("p", { className: "hint", text: interpolate(gettext("Runs the standalone task “%(task)s” (imported; its own trigger turns off)."), { task: item.task }, true) }));
        } else {
          parts = parts.concat(taskFields(key, item.task && typeof item.task === "object" ? item.task : {}));
        }
        var core = h("input", { type: "checkbox", id: "node-core", checked: !!item.core });
        core.addEventListener("change", function () { if (model.setCore(key, core.checked)) changed(); });
        parts.push(h("label", { htmlFor: "node-core" }, [core, document.createTextNode(" " + gettext("Core node (decides the batch result)"))]));
      }
      parts = parts.concat(connectControls(key));
      var del = h("button", { type: "button", id: "node-delete", text: gettext("Delete node") });
      del.addEventListener("click", function () { removeNode(key); });
      parts.push(h("div", { className: "row" }, [del]));
      return parts;
    }

    // The task's config: a form per kind (task-forms.js), the JSON under "Config as JSON" beside it.
    var taskForm = null;
    function taskFields(key, task) {
      var kinds = Object.keys(taskKinds);
      var name = h("input", { type: "text", id: "task-name", value: task.name || "", maxLength: 64 });
      name.addEventListener("input", function () { if (model.setTaskName(key, name.value)) changed(); });
      var kind = h("select", { id: "task-kind" }, kinds.map(function (k) { return h("option", { value: k, text: k }); }));
      kind.value = task.kind || kinds[0];
      var config = h("textarea", { id: "task-config", rows: 5, spellcheck: false, value: JSON.stringify(task.config || {}, null, 2) });
      var slot = h("div", { id: "task-form-slot" });
      var json = h("details", { id: "task-config-json" }, [h("summary", { text: gettext("Config as JSON") })].concat(field(gettext("Config (JSON)"), config)));
      function buildForm() {
        slot.innerHTML = "";
        var current = model.inlineTask(key);
        taskForm = window.BatonTaskForms ? window.BatonTaskForms.build(kind.value, current && current.config, {
          callables: callables,
          onChange: function (next) {
            config.value = JSON.stringify(next, null, 2);
            if (!model.setTaskConfigText(key, config.value)) changed();
          }
        }) : null;
        if (taskForm) { slot.appendChild(taskForm.element); showFieldProblems(); } else json.open = true;
      }
      kind.addEventListener("change", function () {
        if (!model.setTaskKind(key, kind.value, taskKinds[kind.value])) return;
        config.value = JSON.stringify(model.inlineTask(key).config, null, 2);
        config.setCustomValidity("");
        buildForm();
        changed();
      });
      config.addEventListener("input", function () {
        var refusal = model.setTaskConfigText(key, config.value);
        config.setCustomValidity(refusal || "");
        if (!refusal) { changed(); buildForm(); json.open = true; }
      });
      buildForm();
      return [].concat(field(gettext("Task name"), name), field(gettext("Kind"), kind), [slot, json]);
    }

    // The validator's problems about the selected task's config, on the form's fields.
    function showFieldProblems() {
      if (!taskForm || !selection || !selection.node) return;
      var index = (model.doc.nodes || []).indexOf(model.node(selection.node));
      var prefix = "nodes[" + index + "].task.config.";
      taskForm.setErrors(problems.filter(function (p) { return (p.path || "").indexOf(prefix) === 0; }).map(function (p) {
        return { field: p.path.slice(prefix.length), message: p.message };
      }));
    }

    function edgePanel(pair) {
      var item = model.edge(pair[0], pair[1]);
      if (!item) return [];
      var parts = [h("h3", { text: interpolate(gettext("Edge %(source)s → %(target)s"), { source: item.from, target: item.to }, true) })];
      var buttons = [];
      if (model.typeOf(item.from) === "task") {
        parts.push(h("p", { text: interpolate(item.on === "failure" ? gettext("Followed when %(node)s fails (or times out).") : gettext("Followed when %(node)s succeeds."), { node: item.from }, true) }));
        var toggle = h("button", { type: "button", id: "edge-toggle", text: item.on === "failure" ? gettext("Switch to success") : gettext("Switch to failure") });
        toggle.addEventListener("click", function () { switchTrigger([item.from, item.to]); });
        buttons.push(toggle);
      } else {
        parts.push(h("p", { className: "hint", text: gettext("Edges leaving START or a logic node carry no trigger.") }));
      }
      var del = h("button", { type: "button", id: "edge-delete", text: gettext("Delete edge") });
      del.addEventListener("click", function () { removeEdge([item.from, item.to]); });
      buttons.push(del);
      parts.push(h("div", { className: "row" }, buttons));
      return parts;
    }

    function showImport() {
      var team = typeof model.doc.team === "string" ? model.doc.team : "";
      panel.innerHTML = "";
      panel.appendChild(h("h3", { text: gettext("Import a standalone task") }));
      var list = h("select", { id: "import-task-select" });
      var add = h("button", { type: "button", id: "import-task-add", text: gettext("Add node") });
      panel.appendChild(h("label", { htmlFor: "import-task-select", text: interpolate(gettext("Tasks of team %(team)s not in any workflow"), { team: team }, true) }));
      panel.appendChild(h("div", { className: "row" }, [list, add]));
      D.getJSON(urls.tasks + "?team=" + encodeURIComponent(team)).then(function (data) {
        var used = model.taskNames();
        data.tasks.filter(function (t) { return used.indexOf(t.name) < 0; }).forEach(function (t) {
          list.appendChild(h("option", { value: t.name, text: t.name + " (" + t.kind + ")" }));
        });
        if (!list.options.length) { list.appendChild(h("option", { value: "", text: gettext("— none —") })); add.disabled = true; }
        list.focus();
      });
      add.addEventListener("click", function () {
        if (list.value) added(model.importTask(list.value, freeSpot()));
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
    textarea.addEventListener("baton:definition-edited", function () { readTextarea(false); });  // the settings form
    readTextarea(true);
    self.view = view;
    self.model = model;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("dag-editor");
    if (root) window.batonEditor = new Editor(root, JSON.parse(root.dataset.taskKinds), JSON.parse(root.dataset.callables || "[]"));
  });
})();
