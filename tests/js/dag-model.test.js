// The DAG editor's document model (workflows/static/baton/dag-model.js), without a browser:
// `node --test tests/js/` (make test-js).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const { DagModel, problemMarks } = require(path.join(__dirname, "../../workflows/static/baton/dag-model.js"));

const SHELL = { script: "echo hello" };

// A release-like definition: start -> pull -> (scan, unit) -> checks (AND) -> build, unit -failure-> notify.
function definition() {
  return {
    name: "release",
    team: "platform",
    trigger: { type: "none" },
    nodes: [
      { key: "pull", type: "task", task: { name: "release-pull", kind: "shell", config: { script: "git pull" } }, position: { x: 240, y: 130 } },
      { key: "scan", type: "task", task: { name: "release-scan", kind: "shell", config: { script: "scan" } }, position: { x: 440, y: 85 } },
      { key: "unit", type: "task", task: "shop-unit", position: { x: 440, y: 175 } },
      { key: "checks", type: "and", position: { x: 640, y: 130 } },
      { key: "build", type: "task", task: { name: "release-build", kind: "shell", config: { script: "make" } }, core: true, position: { x: 840, y: 130 } },
      { key: "notify", type: "task", task: { name: "release-notify", kind: "http", config: { url: "https://chat/" } }, position: { x: 640, y: 260 } }
    ],
    edges: [
      { from: "start", to: "pull" },
      { from: "pull", to: "scan", on: "success" },
      { from: "pull", to: "unit", on: "success" },
      { from: "scan", to: "checks", on: "success" },
      { from: "unit", to: "checks", on: "success" },
      { from: "checks", to: "build" },
      { from: "unit", to: "notify", on: "failure" }
    ]
  };
}

function loaded(document) {
  const model = new DagModel();
  const result = model.read(JSON.stringify(document === undefined ? definition() : document));
  assert.equal(result.error, undefined);
  return model;
}

function saved(model) { return JSON.parse(model.serialize()); }
function pairs(model) { return model.edges().map((e) => [e.from, e.to, e.on]); }
function keys(model) { return model.nodes().map((n) => n.key); }
function at(model, key) { const p = model.positions[key]; return p && { x: p.x, y: p.y }; }

test("the model touches neither a DOM nor a window", () => {
  assert.equal(typeof globalThis.document, "undefined");
  assert.equal(typeof globalThis.window, "undefined");
  const model = new DagModel();
  assert.deepEqual(saved(model), { nodes: [], edges: [] });
});

test.describe("read: the textarea's JSON", () => {
  test("takes the stored positions and places START level with its children", () => {
    const model = loaded();
    assert.deepEqual(keys(model), ["pull", "scan", "unit", "checks", "build", "notify"]);
    assert.deepEqual(at(model, "scan"), { x: 440, y: 85 });
    assert.deepEqual(at(model, "start"), { x: 40, y: 130 }); // one layer (200) left of the leftmost node
  });

  test("places START level with every node when it points at none", () => {
    const document = definition();
    document.edges = document.edges.filter((e) => e.from !== "start");
    document.nodes = document.nodes.slice(0, 2); // pull (y 130) and scan (y 85)
    assert.deepEqual(at(loaded(document), "start"), { x: 40, y: 107.5 });
  });

  test("places START at the margin when there is no node", () => {
    assert.deepEqual(at(loaded({ name: "empty" }), "start"), { x: 40, y: 40 });
  });

  test("asks for a layout when a node has no position, and keeps none of its own for it", () => {
    const document = definition();
    delete document.nodes[2].position;
    const model = new DagModel();
    assert.deepEqual(model.read(JSON.stringify(document)), { needsLayout: true });
    assert.equal(model.positions.unit, undefined);
    model.applyLayout({ start: { x: 40, y: 40 }, pull: { x: 240, y: 40 }, unit: { x: 440, y: 40 } });
    assert.deepEqual(at(model, "unit"), { x: 440, y: 40 });
    assert.deepEqual(at(model, "start"), { x: 40, y: 40 });
  });

  test("does not ask for a layout when every node is placed", () => {
    assert.deepEqual(new DagModel().read(JSON.stringify(definition())), { needsLayout: false });
  });

  test("keeps the place of a node whose position the new text lacks, and START's", () => {
    const model = loaded();
    model.moveTo("start", 5, 6);
    const document = definition();
    delete document.nodes[0].position;
    document.nodes.push({ key: "fan-in", type: "or", position: { x: 1, y: 2 } });
    assert.deepEqual(model.read(JSON.stringify(document)), { needsLayout: false });
    assert.deepEqual(at(model, "pull"), { x: 240, y: 130 });
    assert.deepEqual(at(model, "fan-in"), { x: 1, y: 2 });
    assert.deepEqual(at(model, "start"), { x: 5, y: 6 });
  });

  test("forgets the places of nodes the new text removed", () => {
    const model = loaded();
    const document = definition();
    document.nodes = document.nodes.filter((n) => n.key !== "notify");
    model.read(JSON.stringify(document));
    assert.equal(model.positions.notify, undefined);
  });

  test("refuses text that is not JSON and keeps the definition", () => {
    const model = loaded();
    const result = model.read('{"name": "release",');
    assert.match(result.error, /JSON/);
    assert.deepEqual(keys(model), ["pull", "scan", "unit", "checks", "build", "notify"]);
  });

  for (const text of ["[]", "null", "3", '"text"', "true"]) {
    test(`refuses ${text}: the definition must be an object`, () => {
      const model = loaded();
      assert.deepEqual(model.read(text), { error: "the definition must be a JSON object" });
      assert.equal(model.doc.name, "release");
    });
  }

  test("starts from an empty definition when the first text is refused", () => {
    const model = new DagModel();
    assert.ok(model.read("not json").error);
    assert.deepEqual(keys(model), []);
    assert.equal(model.addLogic("and", { x: 0, y: 0 }), "and");
  });

  test("reads malformed nodes and edges without failing and keeps them as typed", () => {
    const document = {
      name: "odd",
      nodes: [null, 3, { type: "task" }, { key: 7 }, { key: "a", type: "task", position: { x: "1", y: 2 } }, "text"],
      edges: [null, { from: "start" }, { from: "start", to: "a" }, 5]
    };
    const model = new DagModel();
    assert.deepEqual(model.read(JSON.stringify(document)), { needsLayout: true }); // "a"'s position is not numeric
    assert.deepEqual(keys(model), ["a"]);
    assert.deepEqual(pairs(model), [["start", "a", undefined]]);
    model.applyLayout({ start: { x: 40, y: 40 }, a: { x: 240, y: 40 } });
    const out = saved(model);
    assert.deepEqual(out.nodes.slice(0, 4), [null, 3, { type: "task" }, { key: 7 }]);
    assert.deepEqual(out.nodes[4].position, { x: 240, y: 40 });
    assert.deepEqual(out.edges, [null, { from: "start" }, { from: "start", to: "a" }, 5]);
  });

  test("reads nodes and edges that are not lists as none, and adds to fresh lists", () => {
    const model = loaded({ name: "odd", nodes: { a: 1 }, edges: "none" });
    assert.deepEqual(keys(model), []);
    assert.deepEqual(pairs(model), []);
    model.addLogic("or", { x: 0, y: 0 });
    assert.ok(model.connect("start", "or"));
    assert.deepEqual(saved(model).nodes, [{ key: "or", type: "or", position: { x: 0, y: 0 } }]);
    assert.deepEqual(saved(model).edges, [{ from: "start", to: "or" }]);
  });

  test("handles node keys that are names of Object's prototype", () => {
    const document = {
      name: "proto",
      nodes: [
        { key: "constructor", type: "and", position: { x: 10, y: 20 } },
        { key: "toString", type: "or" },
        { key: "__proto__", type: "or", position: { x: 30, y: 40 } }
      ],
      edges: [{ from: "start", to: "constructor" }]
    };
    const model = new DagModel();
    assert.deepEqual(model.read(JSON.stringify(document)), { needsLayout: true }); // toString has no place
    assert.deepEqual(at(model, "constructor"), { x: 10, y: 20 });
    assert.deepEqual(at(model, "__proto__"), { x: 30, y: 40 });
    assert.equal(model.moveBy("toString", 5, 5), false);
    model.applyLayout({ toString: { x: 50, y: 60 } });
    assert.ok(model.moveBy("toString", 5, 5));
    const out = saved(model);
    assert.deepEqual(out.nodes.map((n) => n.position), [{ x: 10, y: 20 }, { x: 55, y: 65 }, { x: 30, y: 40 }]);
    assert.deepEqual(problemMarks([{ message: "m", nodes: ["constructor"] }]).nodes.constructor, ["m"]);
    assert.equal(problemMarks([]).nodes.constructor, undefined);
  });
});

test.describe("serialize: back to the textarea", () => {
  test("writes every placed node's rounded position and keeps every other field", () => {
    const model = loaded();
    model.positions.pull = { x: 10.4, y: 20.6 };
    const out = saved(model);
    const expected = definition();
    expected.nodes[0].position = { x: 10, y: 21 };
    assert.deepEqual(out, expected);
    assert.equal(model.serialize(), JSON.stringify(expected, null, 2));
  });

  test("never stores START's position", () => {
    const out = saved(loaded());
    assert.equal(JSON.stringify(out).includes('"start":'), false);
    assert.ok(!out.nodes.some((n) => n.key === "start"));
  });

  test("reads back what it wrote", () => {
    const model = loaded();
    model.moveBy("build", 3, 4);
    const again = loaded(saved(model));
    assert.deepEqual(saved(again), saved(model));
  });
});

test.describe("uniqueKey", () => {
  test("keeps a free key as it is", () => assert.equal(loaded().uniqueKey("deploy"), "deploy"));
  test("numbers a taken key from 2", () => {
    const model = loaded();
    assert.equal(model.uniqueKey("pull"), "pull-2");
    model.addLogic("and", { x: 0, y: 0 });
    model.renameNode("and", "pull-2");
    assert.equal(model.uniqueKey("pull"), "pull-3");
  });
  test("never gives START's key", () => assert.equal(loaded().uniqueKey("start"), "start-2"));
  test("replaces characters a key cannot hold and keeps letters of any script", () => {
    assert.equal(loaded().uniqueKey("smoke test/é日本"), "smoke-test-é日本");
  });
  test("falls back to 'node' and stays short enough for a suffix", () => {
    assert.equal(loaded().uniqueKey(""), "node");
    assert.equal(loaded().uniqueKey("x".repeat(80)).length, 56);
  });
});

test.describe("adding nodes", () => {
  test("addTask adds an inline task named after the workflow, with a copy of the kind's config", () => {
    const model = loaded();
    const key = model.addTask("shell", SHELL, { x: 100.2, y: 200.7 });
    assert.equal(key, "task-7");
    assert.deepEqual(model.node(key), { key: "task-7", type: "task", task: { name: "release-task-7", kind: "shell", config: { script: "echo hello" } } });
    assert.deepEqual(at(model, key), { x: 100, y: 201 });
    model.node(key).task.config.script = "changed";
    assert.equal(SHELL.script, "echo hello");
  });

  test("addTask names the task 'task-…' without a workflow name, cut to 64 characters", () => {
    const model = loaded({});
    assert.equal(model.node(model.addTask("shell", SHELL)).task.name, "task-task-1");
    model.setSetting("name", "n".repeat(70));
    const name = model.node(model.addTask("http", { url: "" })).task.name;
    assert.equal(name.length, 64);
  });

  test("addTask never reuses a key", () => {
    const model = loaded({ name: "w", nodes: [{ key: "task-2", type: "or", position: { x: 0, y: 0 } }] });
    assert.equal(model.addTask("shell", SHELL), "task-2-2");
  });

  test("a node without a position goes under every other", () => {
    const model = loaded();
    const key = model.addLogic("or");
    assert.deepEqual(at(model, key), { x: 40, y: 340 });
  });

  test("importTask references the standalone task by name and keys the node after it", () => {
    const model = loaded();
    assert.equal(model.importTask("shop-smoke", { x: 0, y: 0 }), "shop-smoke");
    assert.equal(model.importTask("shop-smoke", { x: 0, y: 0 }), "shop-smoke-2");
    assert.deepEqual(model.node("shop-smoke"), { key: "shop-smoke", type: "task", task: "shop-smoke" });
    assert.equal(model.importTask("", { x: 0, y: 0 }), null);
    assert.deepEqual(model.taskNames(), ["release-pull", "release-scan", "shop-unit", "release-build", "release-notify", "shop-smoke", "shop-smoke"]);
  });

  test("addLogic adds AND and OR nodes only", () => {
    const model = loaded();
    assert.equal(model.addLogic("and", { x: 0, y: 0 }), "and");
    assert.equal(model.addLogic("and", { x: 0, y: 0 }), "and-2");
    assert.equal(model.addLogic("or", { x: 0, y: 0 }), "or");
    assert.equal(model.addLogic("xor", { x: 0, y: 0 }), null);
    assert.deepEqual(model.nodes().slice(-3).map((n) => [n.key, n.type]), [["and", "and"], ["and-2", "and"], ["or", "or"]]);
  });
});

test.describe("connect", () => {
  test("an edge leaving a task starts as success", () => {
    const model = loaded();
    assert.ok(model.connect("build", "notify"));
    assert.deepEqual(model.edge("build", "notify"), { from: "build", to: "notify", on: "success" });
  });

  test("an edge leaving START or a logic node carries no trigger", () => {
    const model = loaded();
    assert.ok(model.connect("start", "scan"));
    assert.ok(model.connect("checks", "notify"));
    assert.deepEqual(model.edge("start", "scan"), { from: "start", to: "scan" });
    assert.deepEqual(model.edge("checks", "notify"), { from: "checks", to: "notify" });
  });

  test("refuses a duplicate edge", () => {
    const model = loaded();
    assert.equal(model.connect("pull", "scan"), false);
    assert.equal(model.connect("start", "pull"), false);
    assert.equal(model.edges().length, 7);
  });

  for (const [from, to, why] of [["pull", "pull", "a self-loop"], ["pull", "start", "an edge into START"],
    ["pull", "", "no target"], ["pull", undefined, "no target"], ["pull", "ghost", "an unknown target"],
    ["ghost", "pull", "an unknown source"]]) {
    test(`refuses ${why}`, () => {
      const model = loaded();
      assert.equal(model.connect(from, to), false);
      assert.equal(model.edges().length, 7);
    });
  }

  test("leaves the other rules to the validator: a second edge into a task, a cycle", () => {
    const model = loaded();
    assert.ok(model.connect("scan", "build"));
    assert.ok(model.connect("build", "pull"));
  });
});

test.describe("switchTrigger", () => {
  test("switches an edge leaving a task between success and failure", () => {
    const model = loaded();
    assert.ok(model.switchTrigger("unit", "notify"));
    assert.equal(model.edge("unit", "notify").on, "success");
    assert.ok(model.switchTrigger("unit", "notify"));
    assert.equal(model.edge("unit", "notify").on, "failure");
  });

  test("an edge from a task without a trigger counts as success", () => {
    const document = definition();
    delete document.edges[1].on;
    const model = loaded(document);
    assert.ok(model.switchTrigger("pull", "scan"));
    assert.equal(model.edge("pull", "scan").on, "failure");
  });

  test("refuses edges leaving START or a logic node, and missing edges", () => {
    const model = loaded();
    assert.equal(model.switchTrigger("start", "pull"), false);
    assert.equal(model.switchTrigger("checks", "build"), false);
    assert.equal(model.switchTrigger("build", "pull"), false);
    assert.deepEqual(model.edge("checks", "build"), { from: "checks", to: "build" });
  });
});

test.describe("deleting", () => {
  test("a node goes with every edge from or to it, and its position", () => {
    const model = loaded();
    assert.ok(model.removeNode("unit"));
    assert.equal(model.node("unit"), null);
    assert.equal(model.positions.unit, undefined);
    assert.deepEqual(pairs(model), [["start", "pull", undefined], ["pull", "scan", "success"],
      ["scan", "checks", "success"], ["checks", "build", undefined]]);
  });

  test("a node takes a dangling edge to it along, and leaves malformed entries alone", () => {
    const document = definition();
    document.nodes.push(null);
    document.edges.push({ from: "notify", to: "ghost" }, { from: "ghost", to: "notify" }, "junk");
    const model = loaded(document);
    assert.ok(model.removeNode("notify"));
    const out = saved(model);
    assert.equal(out.nodes.at(-1), null);
    assert.deepEqual(out.edges.slice(-2), [{ from: "checks", to: "build" }, "junk"]);
  });

  test("START cannot be deleted", () => {
    const model = loaded();
    assert.equal(model.removeNode("start"), false);
    assert.ok(model.edge("start", "pull"));
    assert.ok(model.positions.start);
  });

  test("an unknown node is nothing to delete", () => {
    const model = loaded();
    assert.equal(model.removeNode("ghost"), false);
    assert.equal(model.nodes().length, 6);
  });

  test("an edge goes alone", () => {
    const model = loaded();
    assert.ok(model.removeEdge("pull", "scan"));
    assert.equal(model.edge("pull", "scan"), null);
    assert.ok(model.node("pull") && model.node("scan"));
    assert.equal(model.edges().length, 6);
    assert.equal(model.removeEdge("pull", "scan"), false);
  });
});

test.describe("renameNode", () => {
  test("rewrites the node's edges both ways and keeps its position", () => {
    const model = loaded();
    assert.equal(model.renameNode("unit", "unit-tests"), "unit-tests");
    assert.equal(model.node("unit"), null);
    assert.ok(model.node("unit-tests"));
    assert.deepEqual(pairs(model).filter((p) => p.includes("unit-tests")), [["pull", "unit-tests", "success"],
      ["unit-tests", "checks", "success"], ["unit-tests", "notify", "failure"]]);
    assert.deepEqual(at(model, "unit-tests"), { x: 440, y: 175 });
    assert.equal(model.positions.unit, undefined);
    assert.ok(model.contains({ node: "unit-tests" }) && model.contains({ edge: ["pull", "unit-tests"] }));
  });

  test("trims the new key; an empty or equal key changes nothing", () => {
    const model = loaded();
    assert.equal(model.renameNode("scan", "  lint "), "lint");
    const before = model.serialize();
    assert.equal(model.renameNode("lint", "   "), "lint");
    assert.equal(model.renameNode("lint", "lint"), "lint");
    assert.equal(model.serialize(), before);
  });

  test("refuses START's key, another node's key, and an unknown node", () => {
    const model = loaded();
    const before = model.serialize();
    assert.equal(model.renameNode("scan", "start"), null);
    assert.equal(model.renameNode("scan", "build"), null);
    assert.equal(model.renameNode("ghost", "x"), null);
    assert.equal(model.renameNode("start", "root"), null);
    assert.equal(model.serialize(), before);
  });
});

test.describe("core, settings and inline tasks", () => {
  test("toggleCore switches a task node's core flag and drops it when off", () => {
    const model = loaded();
    assert.ok(model.toggleCore("scan"));
    assert.equal(model.node("scan").core, true);
    assert.ok(model.toggleCore("scan"));
    assert.equal("core" in model.node("scan"), false);
  });

  test("only task nodes are core, and setting the same value changes nothing", () => {
    const model = loaded();
    assert.equal(model.toggleCore("checks"), false);
    assert.equal(model.toggleCore("start"), false);
    assert.equal(model.setCore("build", true), false);
    assert.ok(model.setCore("build", false));
    assert.equal("core" in model.node("build"), false);
  });

  test("setSetting changes the name, team and description only", () => {
    const model = loaded();
    assert.ok(model.setSetting("team", "payments"));
    assert.ok(model.setSetting("description", "nightly"));
    assert.equal(model.setSetting("nodes", []), false);
    assert.deepEqual([model.doc.team, model.doc.description, model.nodes().length], ["payments", "nightly", 6]);
  });

  test("setTaskKind switches the kind and replaces the config with a copy of the kind's", () => {
    const model = loaded();
    const defaults = { method: "GET", url: "https://example.com/", expected_status: [200] };
    assert.ok(model.setTaskKind("scan", "http", defaults));
    assert.deepEqual(model.node("scan").task, { name: "release-scan", kind: "http", config: defaults });
    model.node("scan").task.config.expected_status.push(201);
    assert.deepEqual(defaults.expected_status, [200]);
  });

  test("setTaskName and setTaskConfigText edit an inline task", () => {
    const model = loaded();
    assert.ok(model.setTaskName("scan", "release-lint"));
    assert.equal(model.setTaskConfigText("scan", '{"script": "lint"}'), null);
    assert.deepEqual(model.node("scan").task, { name: "release-lint", kind: "shell", config: { script: "lint" } });
  });

  test("setTaskConfigText refuses text that is not JSON and keeps the config", () => {
    const model = loaded();
    assert.match(model.setTaskConfigText("scan", '{"script": '), /^not valid JSON: /);
    assert.deepEqual(model.node("scan").task.config, { script: "scan" });
  });

  test("an imported task, a logic node and START have no inline task to edit", () => {
    const model = loaded();
    for (const key of ["unit", "checks", "start", "ghost"]) {
      assert.equal(model.inlineTask(key), null);
      assert.equal(model.setTaskName(key, "x"), false);
      assert.equal(model.setTaskKind(key, "shell", SHELL), false);
      assert.equal(model.setTaskConfigText(key, "{}"), "not an inline task");
    }
    assert.equal(model.node("unit").task, "shop-unit");
  });

  test("a task node typed without its task gets one when edited", () => {
    const model = loaded({ name: "w", nodes: [{ key: "a", type: "task", position: { x: 0, y: 0 } }] });
    assert.ok(model.setTaskName("a", "w-a"));
    assert.deepEqual(model.node("a").task, { name: "w-a" });
  });
});

test.describe("positions", () => {
  test("moveTo and moveBy round, and refuse unknown nodes and non-numbers", () => {
    const model = loaded();
    assert.ok(model.moveTo("pull", 10.6, 20.2));
    assert.deepEqual(at(model, "pull"), { x: 11, y: 20 });
    assert.ok(model.moveBy("pull", 40, -10));
    assert.deepEqual(at(model, "pull"), { x: 51, y: 10 });
    assert.ok(model.moveBy("start", 1, 1));
    assert.equal(model.moveTo("ghost", 0, 0), false);
    assert.equal(model.moveBy("ghost", 1, 1), false);
    assert.equal(model.moveTo("pull", NaN, 0), false);
    assert.equal(model.positions.ghost, undefined);
    assert.deepEqual(saved(model).nodes[0].position, { x: 51, y: 10 });
  });

  test("freeSpot takes the first cell of the area far enough from every node", () => {
    const model = loaded({ name: "w", nodes: [{ key: "a", type: "or", position: { x: 0, y: 0 } }] });
    // START is at (-200, 0); (0, 0) is taken by "a", so the next cell to the right.
    assert.deepEqual(model.freeSpot({ left: 0, top: 0, right: 1000, bottom: 500 }), { x: 190, y: 0 });
    assert.deepEqual(model.freeSpot({ left: 0.4, top: 0, right: 200, bottom: 500 }), { x: 0, y: 80 });
  });

  test("freeSpot gives null when the area is full or too small for a node", () => {
    const model = loaded({ name: "w", nodes: [{ key: "a", type: "or", position: { x: 0, y: 0 } }] });
    assert.equal(model.freeSpot({ left: 0, top: 0, right: 160, bottom: 60 }), null);
    assert.equal(model.freeSpot({ left: 500, top: 500, right: 600, bottom: 540 }), null);
  });

  test("spotBelow is at the margin under the lowest node, or at the margin when nothing is placed", () => {
    assert.deepEqual(loaded().spotBelow(), { x: 40, y: 340 });
    assert.deepEqual(new DagModel().spotBelow(), { x: 40, y: 40 });
  });

  test("applyLayout replaces every place it computed and forgets keys that no node has", () => {
    const model = loaded();
    model.positions.ghost = { x: 0, y: 0 };
    model.applyLayout({ start: { x: 1, y: 2 }, pull: { x: 3, y: 4 }, scan: null });
    assert.deepEqual(at(model, "start"), { x: 1, y: 2 });
    assert.deepEqual(at(model, "pull"), { x: 3, y: 4 });
    assert.deepEqual(at(model, "scan"), { x: 440, y: 85 });
    assert.equal(model.positions.ghost, undefined);
  });

  test("placeStart ignores an edge from START into START", () => {
    const document = definition();
    document.edges.push({ from: "start", to: "start" });
    assert.deepEqual(at(loaded(document), "start"), { x: 40, y: 130 });
  });
});

test.describe("selection and the validator's problems", () => {
  test("contains says whether a selected node or edge still exists", () => {
    const model = loaded();
    assert.ok(model.contains({ node: "start" }));
    assert.ok(model.contains({ node: "pull" }));
    assert.ok(model.contains({ edge: ["pull", "scan"] }));
    assert.equal(model.contains({ node: "ghost" }), false);
    assert.equal(model.contains({ edge: ["scan", "pull"] }), false);
    assert.equal(model.contains(null), false);
  });

  test("problemMarks lists each node's and edge's messages once", () => {
    const marks = problemMarks([
      { message: "task build has 2 upstream edges", text: "nodes: task build has 2 upstream edges", nodes: ["build"], edges: [["scan", "build"], ["checks", "build"]] },
      { message: "task build has 2 upstream edges", nodes: ["build"], edges: [["scan", "build"]] },
      { message: "unreachable", nodes: ["notify", "build"], edges: [] },
      { text: "Edit as JSON: bad", nodes: [], edges: [] }
    ]);
    assert.deepEqual({ ...marks.nodes }, { build: ["task build has 2 upstream edges", "unreachable"], notify: ["unreachable"] });
    assert.deepEqual(marks.edges, [
      { from: "scan", to: "build", messages: ["task build has 2 upstream edges"] },
      { from: "checks", to: "build", messages: ["task build has 2 upstream edges"] }
    ]);
    assert.deepEqual(problemMarks(undefined).edges, []);
  });

  test("problemTarget is the first existing node, else the first edge, else nothing", () => {
    const model = loaded();
    assert.deepEqual(model.problemTarget({ nodes: ["build", "scan"], edges: [["scan", "build"]] }), { node: "build" });
    assert.deepEqual(model.problemTarget({ nodes: ["start"], edges: [["start", "pull"]] }), { edge: ["start", "pull"] });
    assert.deepEqual(model.problemTarget({ nodes: ["ghost"], edges: [] }), null);
    assert.deepEqual(model.problemTarget({ text: "team: is required" }), null);
  });
});
