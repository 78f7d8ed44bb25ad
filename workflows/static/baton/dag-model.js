/* Baton: the DAG editor's document model. Pure: no DOM, no network; loads in the browser
 * (global `BatonDagModel`) and in Node (`require`), where tests/js/ tests it.
 *
 * A model holds the SPEC §10 definition being edited (`doc`, exactly as parsed from the
 * textarea, unknown fields and malformed entries included, so nothing typed is lost) and the
 * drawing position of each node and of START (`positions`, top-left corners in drawing units).
 * Every edit the editor makes is one method here; a method that changes the definition returns
 * something truthy, one that refuses or finds nothing to do returns false or null and changes
 * nothing. The editor (editor.js) turns pointer and keyboard input into these calls, then
 * draws, rewrites the textarea from `serialize()` and asks the server to validate.
 *
 * The model knows no task kinds: a new task's kind and config come from the caller.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.BatonDagModel = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var START = "start";
  // In the browser, Django's JavaScript catalogue (/jsi18n/) translates; in Node (the tests), English.
  var gettext = typeof self !== "undefined" && typeof self.gettext === "function" ? self.gettext : function (text) { return text; };
  var KEY_LENGTH = 64;
  var LAYER_GAP = 200; // START sits one layer left of the leftmost node (workflows/layout.py)
  var MARGIN = 40;
  // A new node goes to the first free cell of a grid over the visible area, big enough for a task.
  var CELL = { width: 190, height: 80 };
  var NODE = { width: 150, height: 48 };
  var CLEARANCE = { x: 170, y: 70 };
  var SETTINGS = ["name", "team", "description"];

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }
  function isPoint(p) { return isObject(p) && Number.isFinite(p.x) && Number.isFinite(p.y); }
  function isNode(n) { return isObject(n) && typeof n.key === "string"; }
  function isEdge(e) { return isObject(e) && typeof e.from === "string" && typeof e.to === "string"; }
  function copy(value) { return value === undefined ? {} : JSON.parse(JSON.stringify(value)); }
  function rounded(p) { return { x: Math.round(p.x), y: Math.round(p.y) }; }
  // Maps keyed by node key have no prototype: a node may be called "constructor" or "__proto__".
  function keyMap() { return Object.create(null); }

  function DagModel() {
    this.doc = { nodes: [], edges: [] };
    this.positions = keyMap();
  }

  // --- reading ---------------------------------------------------------------------------

  /** The well-formed nodes (objects with a string key), in definition order. */
  DagModel.prototype.nodes = function () { return list(this.doc.nodes).filter(isNode); };

  /** The well-formed edges (objects with string `from` and `to`), in definition order. */
  DagModel.prototype.edges = function () { return list(this.doc.edges).filter(isEdge); };

  DagModel.prototype.node = function (key) {
    return this.nodes().filter(function (n) { return n.key === key; })[0] || null;
  };

  DagModel.prototype.edge = function (from, to) {
    return this.edges().filter(function (e) { return e.from === from && e.to === to; })[0] || null;
  };

  /** "start", the node's type, or undefined for a key that names no node. */
  DagModel.prototype.typeOf = function (key) {
    if (key === START) return "start";
    var node = this.node(key);
    return node ? node.type : undefined;
  };

  /** Whether a selection ({node: key} or {edge: [from, to]}) still names something. */
  DagModel.prototype.contains = function (selection) {
    if (!selection) return false;
    if (selection.node !== undefined) return selection.node === START || !!this.node(selection.node);
    return !!(selection.edge && this.edge(selection.edge[0], selection.edge[1]));
  };

  /** The names of the tasks the nodes run (inline task names and imported task references). */
  DagModel.prototype.taskNames = function () {
    return this.nodes()
      .map(function (n) { return typeof n.task === "string" ? n.task : isObject(n.task) ? n.task.name : undefined; })
      .filter(function (name) { return typeof name === "string" && name; });
  };

  /** A free node key made from `base`: characters a key cannot hold become "-"; "-2", "-3"… if taken. */
  DagModel.prototype.uniqueKey = function (base) {
    base = String(base || "").replace(/[^\p{L}\p{M}0-9._-]+/gu, "-").slice(0, KEY_LENGTH - 8) || "node";
    var key = base;
    for (var i = 2; key === START || this.node(key); i++) key = base + "-" + i;
    return key;
  };

  // --- the textarea ----------------------------------------------------------------------

  /**
   * Replace the definition with the JSON `text`. Returns {error} (and keeps the definition) when
   * the text is not a JSON object; else {needsLayout}: true when a node has no position (stored
   * or from before), and the caller should then apply a computed layout (`applyLayout`).
   * Positions stored in the text win; START keeps its place, or is placed beside the nodes.
   */
  DagModel.prototype.read = function (text) {
    var parsed;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return { error: err.message };
    }
    if (!isObject(parsed)) return { error: gettext("the definition must be a JSON object") };
    var previous = this.positions;
    var positions = keyMap();
    var missing = false;
    this.doc = parsed;
    this.nodes().forEach(function (n) {
      if (isPoint(n.position)) positions[n.key] = { x: n.position.x, y: n.position.y };
      else if (previous[n.key]) positions[n.key] = previous[n.key];
      else missing = true;
    });
    if (previous[START]) positions[START] = previous[START];
    this.positions = positions;
    if (!missing && !positions[START]) this.placeStart();
    return { needsLayout: missing };
  };

  /** The definition as the textarea holds it: indented JSON, each placed node with its rounded position. */
  DagModel.prototype.serialize = function () {
    var positions = this.positions;
    this.nodes().forEach(function (n) { if (positions[n.key]) n.position = rounded(positions[n.key]); });
    return JSON.stringify(this.doc, null, 2);
  };

  // --- positions -------------------------------------------------------------------------

  /** Take the positions a layout computed (for START and every node); forget those of keys no node has. */
  DagModel.prototype.applyLayout = function (computed) {
    var self = this;
    Object.keys(computed || {}).forEach(function (k) {
      if (isPoint(computed[k])) self.positions[k] = { x: computed[k].x, y: computed[k].y };
    });
    Object.keys(this.positions).forEach(function (k) { if (k !== START && !self.node(k)) delete self.positions[k]; });
  };

  /** Put START one layer left of the leftmost node, level with the nodes it points at (or with all). */
  DagModel.prototype.placeStart = function () {
    var positions = this.positions;
    var keys = Object.keys(positions).filter(function (k) { return k !== START; });
    if (!keys.length) { positions[START] = { x: MARGIN, y: MARGIN }; return; }
    var minX = Math.min.apply(null, keys.map(function (k) { return positions[k].x; }));
    var children = this.edges().filter(function (e) { return e.from === START && e.to !== START && positions[e.to]; });
    var ys = (children.length ? children.map(function (e) { return e.to; }) : keys).map(function (k) { return positions[k].y; });
    positions[START] = { x: minX - LAYER_GAP, y: ys.reduce(function (a, b) { return a + b; }, 0) / ys.length };
  };

  /**
   * The first free grid cell inside `area` ({left, top, right, bottom} in drawing units), left to
   * right, top to bottom, far enough from every placed node; null when the area is full.
   */
  DagModel.prototype.freeSpot = function (area) {
    var positions = this.positions;
    var taken = function (x, y) {
      return Object.keys(positions).some(function (k) {
        return Math.abs(positions[k].x - x) < CLEARANCE.x && Math.abs(positions[k].y - y) < CLEARANCE.y;
      });
    };
    for (var y = area.top; y + NODE.height <= area.bottom; y += CELL.height) {
      for (var x = area.left; x + NODE.width <= area.right; x += CELL.width) {
        if (!taken(x, y)) return rounded({ x: x, y: y });
      }
    }
    return null;
  };

  /** A spot at the left margin under every placed node (for when no visible area is free). */
  DagModel.prototype.spotBelow = function () {
    var positions = this.positions;
    var ys = Object.keys(positions).map(function (k) { return positions[k].y; });
    return { x: MARGIN, y: ys.length ? Math.round(Math.max.apply(null, ys) + CELL.height) : MARGIN };
  };

  /** Put a node (or START) at (x, y), rounded. */
  DagModel.prototype.moveTo = function (key, x, y) {
    if (key !== START && !this.node(key)) return false;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
    this.positions[key] = rounded({ x: x, y: y });
    return true;
  };

  /** Move a placed node (or START) by (dx, dy). */
  DagModel.prototype.moveBy = function (key, dx, dy) {
    var p = this.positions[key];
    return !!p && this.moveTo(key, p.x + dx, p.y + dy);
  };

  // --- nodes -----------------------------------------------------------------------------

  DagModel.prototype.addNode = function (node, position) {
    if (!Array.isArray(this.doc.nodes)) this.doc.nodes = [];
    this.doc.nodes.push(node);
    this.positions[node.key] = rounded(position || this.spotBelow());
    return node.key;
  };

  /**
   * Add a new inline task node "task-N" of `kind` with a copy of `config`, named
   * "<workflow>-<key>"; returns its key.
   */
  DagModel.prototype.addTask = function (kind, config, position) {
    var key = this.uniqueKey("task-" + (this.nodes().length + 1));
    var name = ((typeof this.doc.name === "string" && this.doc.name) || "task") + "-" + key;
    var task = { name: name.slice(0, KEY_LENGTH), kind: kind, config: copy(config) };
    return this.addNode({ key: key, type: "task", task: task }, position);
  };

  /** Add a node running the standalone task `name` (referenced by name, keyed after it); returns its key. */
  DagModel.prototype.importTask = function (name, position) {
    if (typeof name !== "string" || !name) return null;
    return this.addNode({ key: this.uniqueKey(name), type: "task", task: name }, position);
  };

  /** Add an AND or OR node; returns its key. */
  DagModel.prototype.addLogic = function (type, position) {
    if (type !== "and" && type !== "or") return null;
    return this.addNode({ key: this.uniqueKey(type), type: type }, position);
  };

  /** Remove a node with every edge from or to it, and its position. START cannot be removed. */
  DagModel.prototype.removeNode = function (key) {
    if (key === START || !this.node(key)) return false;
    this.doc.nodes = this.doc.nodes.filter(function (n) { return !isNode(n) || n.key !== key; });
    if (Array.isArray(this.doc.edges)) {
      this.doc.edges = this.doc.edges.filter(function (e) { return !isEdge(e) || (e.from !== key && e.to !== key); });
    }
    delete this.positions[key];
    return true;
  };

  /**
   * Give a node a new key (trimmed), rewriting its edges and keeping its position. Returns the
   * node's key afterwards (unchanged for an empty or equal key), or null when the new key is
   * START's or another node's, or no node has the old key.
   */
  DagModel.prototype.renameNode = function (oldKey, newKey) {
    var node = this.node(oldKey);
    if (!node || oldKey === START) return null;
    newKey = String(newKey).trim();
    if (!newKey || newKey === oldKey) return oldKey;
    if (newKey === START || this.node(newKey)) return null;
    node.key = newKey;
    this.edges().forEach(function (e) {
      if (e.from === oldKey) e.from = newKey;
      if (e.to === oldKey) e.to = newKey;
    });
    if (this.positions[oldKey]) this.positions[newKey] = this.positions[oldKey];
    delete this.positions[oldKey];
    return newKey;
  };

  /** Make a task node core (decides the batch result) or not; `core` is left out when false. */
  DagModel.prototype.setCore = function (key, core) {
    var node = this.node(key);
    if (!node || node.type !== "task" || !!node.core === !!core) return false;
    if (core) node.core = true;
    else delete node.core;
    return true;
  };

  DagModel.prototype.toggleCore = function (key) {
    var node = this.node(key);
    return !!node && this.setCore(key, !node.core);
  };

  /** Set the workflow's name, team or description. */
  DagModel.prototype.setSetting = function (field, value) {
    if (SETTINGS.indexOf(field) < 0) return false;
    this.doc[field] = value;
    return true;
  };

  /** The inline task object of a task node, created when missing; null for an imported task or another node. */
  DagModel.prototype.inlineTask = function (key) {
    var node = this.node(key);
    if (!node || node.type !== "task" || typeof node.task === "string") return null;
    if (!isObject(node.task)) node.task = {};
    return node.task;
  };

  DagModel.prototype.setTaskName = function (key, name) {
    var task = this.inlineTask(key);
    if (!task) return false;
    task.name = name;
    return true;
  };

  /** Switch an inline task's kind; its config becomes a copy of `config` (the new kind's defaults). */
  DagModel.prototype.setTaskKind = function (key, kind, config) {
    var task = this.inlineTask(key);
    if (!task) return false;
    task.kind = kind;
    task.config = copy(config);
    return true;
  };

  /** Set an inline task's config from JSON text; returns null when set, else why the text was refused. */
  DagModel.prototype.setTaskConfigText = function (key, text) {
    var task = this.inlineTask(key);
    if (!task) return gettext("not an inline task");
    var config;
    try {
      config = JSON.parse(text);
    } catch (err) {
      return gettext("not valid JSON:") + " " + err.message;
    }
    task.config = config;
    return null;
  };

  // --- edges -----------------------------------------------------------------------------

  /**
   * Add an edge from `from` to `to` (an edge leaving a task starts as "success"). Refused: an
   * unknown end, a self-loop, an edge into START, and an edge that exists already. Every other
   * rule (one upstream edge into a task, no cycle…) is the server validator's to report.
   */
  DagModel.prototype.connect = function (from, to) {
    if (!to || from === to || to === START) return false;
    if ((from !== START && !this.node(from)) || !this.node(to) || this.edge(from, to)) return false;
    var edge = { from: from, to: to };
    if (this.typeOf(from) === "task") edge.on = "success";
    if (!Array.isArray(this.doc.edges)) this.doc.edges = [];
    this.doc.edges.push(edge);
    return true;
  };

  /** Switch an edge leaving a task between "success" and "failure" (no trigger counts as success). */
  DagModel.prototype.switchTrigger = function (from, to) {
    var edge = this.edge(from, to);
    if (!edge || this.typeOf(from) !== "task") return false;
    edge.on = edge.on === "failure" ? "success" : "failure";
    return true;
  };

  DagModel.prototype.removeEdge = function (from, to) {
    if (!this.edge(from, to)) return false;
    this.doc.edges = this.doc.edges.filter(function (e) { return !isEdge(e) || e.from !== from || e.to !== to; });
    return true;
  };

  // --- the validator's problems ----------------------------------------------------------

  /**
   * What to mark from the server's problems ({message, text, nodes: [key], edges: [[from, to]]}):
   * {nodes: {key: [message]}, edges: [{from, to, messages}]}, each message once per item.
   */
  function problemMarks(problems) {
    var nodes = keyMap();
    var edges = [];
    var add = function (messages, message) { if (message && messages.indexOf(message) < 0) messages.push(message); };
    (problems || []).forEach(function (problem) {
      var message = problem.message || problem.text;
      (problem.nodes || []).forEach(function (key) { add(nodes[key] || (nodes[key] = []), message); });
      (problem.edges || []).forEach(function (pair) {
        var mark = edges.filter(function (m) { return m.from === pair[0] && m.to === pair[1]; })[0];
        if (!mark) edges.push(mark = { from: pair[0], to: pair[1], messages: [] });
        add(mark.messages, message);
      });
    });
    return { nodes: nodes, edges: edges };
  }

  /** What selecting a problem shows: its first node that exists (not START), else its first edge, else null. */
  DagModel.prototype.problemTarget = function (problem) {
    var first = (problem.nodes || [])[0];
    var firstEdge = (problem.edges || [])[0];
    if (first !== undefined && first !== START && this.node(first)) return { node: first };
    return firstEdge ? { edge: [firstEdge[0], firstEdge[1]] } : null;
  };

  function list(value) { return Array.isArray(value) ? value : []; }

  return { DagModel: DagModel, problemMarks: problemMarks, START: START };
});
