/* Baton: a task's configuration as a form per kind, for the DAG editor's side panel. No dependencies.
 *
 * BatonTaskForms.build(kind, config, options) returns { element, setErrors(problems) } or null for
 * a kind (or a config) it has no form for. Every edit calls options.onChange(config) with the
 * whole new config object; the editor writes it into the definition, which the server's one
 * validator checks (the form checks nothing itself). setErrors takes [{field, message}] (the
 * field as the validator's path names it under `config.`) and shows each under its input.
 *
 * shell: a script editor (monospace, line numbers), or a command's arguments one per line (argv,
 *        no shell; an argument with a line break, or an empty one, is edited as JSON), the working directory, env as a key/value
 *        table with a "secret" switch per value (a secret is {"secret": value}; a stored one
 *        shows as *** and is kept while left so);
 * http:  method, URL, headers (a table with the same switch), body, expected status codes;
 * python: the callable as a select of the registered ones, one input per argument, and for a
 *        callable taking **kwargs a table of the arguments it does not name.
 */
(function () {
  "use strict";
  var gettext = window.gettext || function (text) { return text; };
  var METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k in node && k !== "list") node[k] = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function copy(value) { return JSON.parse(JSON.stringify(value || {})); }
  function isSecret(value) { return !!value && typeof value === "object" && "secret" in value; }

  // A labelled field with a slot for the validator's message about it.
  function Fields(root) {
    var slots = {};
    // `names`: the field, or the fields whose problems show in this one slot; returns the label.
    this.add = function (names, labelText, input) {
      names = [].concat(names);
      var error = h("ul", { className: "errorlist task-field-error", hidden: true, "data-field": names[0] });
      names.forEach(function (name) { slots[name] = error; });
      var label = h("label", { htmlFor: input.id || "", text: labelText });
      root.appendChild(label);
      root.appendChild(error);
      root.appendChild(input);
      return label;
    };
    this.setErrors = function (problems) {
      Object.keys(slots).forEach(function (name) { slots[name].hidden = true; slots[name].innerHTML = ""; });
      problems.forEach(function (p) {
        var name = Object.keys(slots).filter(function (s) { return p.field === s || p.field.indexOf(s + ".") === 0 || p.field.indexOf(s + "[") === 0; })[0];
        if (!name) return;
        slots[name].appendChild(h("li", { text: p.message }));
        slots[name].hidden = false;
      });
    };
  }

  // The script editor: a textarea beside a gutter of line numbers that scrolls with it.
  function scriptEditor(id, text, onInput) {
    var gutter = h("pre", { className: "task-script-lines", "aria-hidden": "true" });
    var area = h("textarea", { id: id, className: "task-script", rows: 10, spellcheck: false, wrap: "off", value: text || "" });
    function number() {
      var count = area.value.split("\n").length;
      var lines = [];
      for (var i = 1; i <= count; i++) lines.push(String(i));
      gutter.textContent = lines.join("\n");
      gutter.scrollTop = area.scrollTop;
    }
    area.addEventListener("input", function () { number(); onInput(area.value); });
    area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
    area.addEventListener("keydown", function (ev) {  // Tab indents instead of leaving the editor
      if (ev.key !== "Tab" || ev.shiftKey) return;
      ev.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      area.dispatchEvent(new Event("input"));
    });
    number();
    return h("div", { className: "task-script-editor" }, [gutter, area]);
  }

  // A key/value table with a secret switch per value; onChange(object) after each edit.
  function pairTable(id, pairs, onChange, keyLabel) {
    var rows = Object.keys(pairs || {}).map(function (k) {
      var v = pairs[k];
      return { key: k, value: isSecret(v) ? String(v.secret) : String(v), secret: isSecret(v) };
    });
    var body = h("tbody");
    var table = h("table", { id: id, className: "task-pairs" }, [
      h("thead", {}, [h("tr", {}, [h("th", { text: keyLabel }), h("th", { text: gettext("Value") }), h("th", { text: gettext("Secret") }), h("th")])]),
      body
    ]);
    function emit() {
      var out = {};
      rows.forEach(function (r) { if (r.key !== "") out[r.key] = r.secret ? { secret: r.value } : r.value; });
      onChange(out);
    }
    function draw() {
      body.innerHTML = "";
      rows.forEach(function (r, index) {
        var key = h("input", { type: "text", value: r.key, className: "pair-key", "aria-label": keyLabel });
        var value = h("input", { type: r.secret ? "password" : "text", value: r.value, className: "pair-value", "aria-label": gettext("Value"), autocomplete: "off" });
        var secret = h("input", { type: "checkbox", checked: r.secret, className: "pair-secret", "aria-label": gettext("Secret") });
        var remove = h("button", { type: "button", className: "pair-remove", text: "×", title: gettext("Remove") });
        key.addEventListener("input", function () { r.key = key.value; emit(); });
        value.addEventListener("input", function () { r.value = value.value; emit(); });
        secret.addEventListener("change", function () { r.secret = secret.checked; value.type = r.secret ? "password" : "text"; emit(); });
        remove.addEventListener("click", function () { rows.splice(index, 1); draw(); emit(); });
        body.appendChild(h("tr", {}, [h("td", {}, [key]), h("td", {}, [value]), h("td", {}, [secret]), h("td", {}, [remove])]));
      });
    }
    var add = h("button", { type: "button", className: "pair-add", id: id + "-add", text: gettext("+ Add") });
    add.addEventListener("click", function () {
      rows.push({ key: "", value: "", secret: false });
      draw();
      var keys = body.querySelectorAll(".pair-key");
      keys[keys.length - 1].focus();
    });
    draw();
    return h("div", { className: "task-pairs-wrap" }, [table, add]);
  }

  // An argv the one-per-line editor can hold (no empty argument, no line break in one); else JSON.
  function plainArgv(argv) {
    return Array.isArray(argv) && argv.every(function (a) { return typeof a === "string" && a !== "" && a.indexOf("\n") < 0; });
  }

  function shellForm(config, fields, change) {
    var argvMode = "argv" in config && !("script" in config);
    if (argvMode && !plainArgv(config.argv)) return false;  // an argument the lines cannot show: edited as JSON
    // A script (run by /bin/sh) or a command (argv, no shell); switching carries the text over as words.
    var mode = h("select", { id: "task-shell-mode" }, [
      h("option", { value: "script", text: gettext("a script, run by /bin/sh") }),
      h("option", { value: "argv", text: gettext("a command, one argument per line (no shell)") })
    ]);
    mode.value = argvMode ? "argv" : "script";
    fields.add("mode", gettext("Run"), mode);
    var editor = h("div", { id: "task-shell-editor" });
    var label = fields.add(["script", "argv"], "", editor);
    function drawEditor() {
      editor.innerHTML = "";
      label.textContent = mode.value === "argv" ? gettext("Command") : gettext("Script");
      if (mode.value === "argv") {
        var area = h("textarea", { id: "task-argv", className: "task-mono", rows: 6, spellcheck: false, wrap: "off", value: (config.argv || []).join("\n") });
        area.addEventListener("input", function () {
          var lines = area.value.split("\n");
          if (lines.length && lines[lines.length - 1] === "") lines.pop();  // the line being started
          config.argv = lines;
          change();
        });
        editor.appendChild(area);
      } else {
        editor.appendChild(scriptEditor("task-script", config.script, function (text) { config.script = text; change(); }));
      }
    }
    mode.addEventListener("change", function () {
      if (mode.value === "argv") {
        config.argv = String(config.script || "").trim().split(/\s+/).filter(Boolean);
        delete config.script;
      } else {
        config.script = (config.argv || []).join(" ");
        delete config.argv;
      }
      drawEditor();
      change();
    });
    drawEditor();
    var cwd = h("input", { type: "text", id: "task-cwd", value: config.cwd || "", placeholder: gettext("(the worker's)") });
    cwd.addEventListener("input", function () { if (cwd.value) config.cwd = cwd.value; else delete config.cwd; change(); });
    fields.add("cwd", gettext("Working directory"), cwd);
    fields.add("env", gettext("Environment"), pairTable("task-env", config.env, function (env) {
      if (Object.keys(env).length) config.env = env; else delete config.env;
      change();
    }, gettext("Variable")));
    return true;
  }

  function httpForm(config, fields, change) {
    var method = h("select", { id: "task-method" }, METHODS.map(function (m) { return h("option", { value: m, text: m }); }));
    method.value = String(config.method || "GET").toUpperCase();
    method.addEventListener("change", function () { config.method = method.value; change(); });
    fields.add("method", gettext("Method"), method);
    var url = h("input", { type: "url", id: "task-url", value: config.url || "", placeholder: "https://" });
    url.addEventListener("input", function () { config.url = url.value; change(); });
    fields.add("url", gettext("URL"), url);
    fields.add("headers", gettext("Headers"), pairTable("task-headers", config.headers, function (headers) {
      if (Object.keys(headers).length) config.headers = headers; else delete config.headers;
      change();
    }, gettext("Header")));
    var bodyText = config.body === undefined ? "" : typeof config.body === "string" ? config.body : JSON.stringify(config.body, null, 2);
    var body = h("textarea", { id: "task-body", rows: 4, spellcheck: false, value: bodyText, className: "task-mono" });
    body.addEventListener("input", function () { if (body.value) config.body = body.value; else delete config.body; change(); });
    fields.add("body", gettext("Body"), body);
    var expected = h("input", { type: "text", id: "task-expected-status", value: (config.expected_status || []).join(", "), placeholder: gettext("any 2xx") });
    expected.addEventListener("input", function () {
      var codes = expected.value.split(/[\s,]+/).filter(Boolean).map(function (c) { return /^\d+$/.test(c) ? Number(c) : c; });
      if (codes.length) config.expected_status = codes; else delete config.expected_status;
      change();
    });
    fields.add("expected_status", gettext("Expected status"), expected);
    return true;
  }

  function pythonForm(config, fields, change, callables) {
    var names = callables.map(function (c) { return c.name; });
    var select = h("select", { id: "task-callable" }, [h("option", { value: "", text: "—" })].concat(
      names.map(function (n) { return h("option", { value: n, text: n }); })));
    if (config.callable && names.indexOf(config.callable) < 0) select.appendChild(h("option", { value: config.callable, text: config.callable }));
    select.value = config.callable || "";
    var args = h("div", { id: "task-arguments", className: "task-arguments" });
    function drawArguments() {
      args.innerHTML = "";
      var chosen = callables.filter(function (c) { return c.name === select.value; })[0] || { params: [] };
      var declared = chosen.params;
      var kwargs = config.kwargs && typeof config.kwargs === "object" ? config.kwargs : {};
      declared.forEach(function (p) {
        var shown = p.name in kwargs ? JSON.stringify(kwargs[p.name]) : "";
        var input = h("input", { type: "text", id: "task-arg-" + p.name, value: shown, placeholder: p.default === null ? gettext("required") : p.default, "data-name": p.name });
        input.addEventListener("input", function () {
          var next = copy(config.kwargs);
          if (input.value === "") delete next[p.name];
          else {
            try { next[p.name] = JSON.parse(input.value); } catch (e) { next[p.name] = input.value; }  // text is a string
          }
          config.kwargs = next;
          change();
        });
        args.appendChild(h("label", { htmlFor: input.id, text: p.name + (p.annotation ? " (" + p.annotation + ")" : "") }));
        args.appendChild(input);
      });
      if (chosen.extra) {
        // **kwargs: the arguments it does not name, as a table (values are text; the secret switch as for env).
        var named = declared.map(function (p) { return p.name; });
        var others = {};
        Object.keys(kwargs).forEach(function (k) { if (named.indexOf(k) < 0) others[k] = kwargs[k]; });
        args.appendChild(h("label", { text: gettext("More arguments") }));
        args.appendChild(pairTable("task-extra-args", others, function (extra) {
          var next = {};
          Object.keys(config.kwargs || {}).forEach(function (k) { if (named.indexOf(k) >= 0) next[k] = config.kwargs[k]; });
          Object.keys(extra).forEach(function (k) { next[k] = extra[k]; });
          config.kwargs = next;
          change();
        }, gettext("Argument")));
      } else if (!declared.length) {
        args.appendChild(h("p", { className: "hint", text: gettext("No arguments.") }));
      }
    }
    select.addEventListener("change", function () { config.callable = select.value; config.kwargs = {}; drawArguments(); change(); });
    fields.add("callable", gettext("Callable"), select);
    fields.add("kwargs", gettext("Arguments (JSON values; text as it is)"), args);
    drawArguments();
    return true;
  }

  var FORMS = { shell: shellForm, http: httpForm, python: pythonForm };

  function build(kind, initial, options) {
    if (!FORMS[kind] || !initial || typeof initial !== "object" || Array.isArray(initial)) return null;
    var config = copy(initial);
    var root = h("div", { className: "task-form", id: "task-form", "data-kind": kind });
    var fields = new Fields(root);
    var change = function () { options.onChange(copy(config)); };
    if (!FORMS[kind](config, fields, change, options.callables || [])) return null;
    return { element: root, setErrors: fields.setErrors };
  }

  window.BatonTaskForms = { build: build };
})();
