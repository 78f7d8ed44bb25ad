/* Baton: the workflow page's settings form (team, trigger, timeout, policies), and a standalone task's trigger
 * fields (there the JSON is the `trigger` text area alone). Hand-written, no dependencies.
 *
 * The fields are a view of the definition in the `definition` textarea ("Edit as JSON"): a
 * change in a field rewrites its key in the JSON (and tells the DAG editor, which re-reads and
 * re-validates it at once); typing in the JSON refreshes the fields. The canvas never edits these keys. On save the server writes the
 * posted fields into the definition and runs the one validator (workflows/admin_settings.py).
 * While a trigger is typed, the server's preview endpoint answers with its next fire times
 * in the trigger's zone (seconds and UTC offset; UTC on hover) or the validator's problem,
 * shown on the field it names.
 */
(function () {
  "use strict";
  var gettext = window.gettext || function (text) { return text; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };
  // trigger key → form field, per trigger type (the server's TRIGGER_FIELDS)
  var TRIGGER_FIELDS = {
    none: {},
    cron: { expression: "cron_expression", timezone: "trigger_timezone" },
    periodic: { every: "every", unit: "unit", start: "start", timezone: "trigger_timezone" },
    once: { at: "at", timezone: "trigger_timezone" }
  };
  var TOP = ["enabled", "timeout_seconds", "overlap_policy", "misfire_policy", "team"];
  var TRIGGER_ROWS = ["cron_expression", "every", "unit", "start", "at", "trigger_timezone"];

  function debounce(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  function input(name) { return document.getElementById("id_" + name); }
  function row(name) { return document.querySelector(".form-row.field-" + name) || (input(name) && input(name).closest(".form-row")); }

  function value(name) {
    var el = input(name);
    if (!el) return undefined;
    if (el.type === "checkbox") return el.checked;
    if (name === "every" || name === "timeout_seconds") return el.value === "" ? "" : Number(el.value);
    return el.value;
  }

  function setValue(name, v) {
    var el = input(name);
    if (!el || el === document.activeElement || v === undefined || v === null) return;
    if (el.type === "checkbox") el.checked = !!v;
    else el.value = String(v);
  }

  function Settings(urls) {
    // The workflow page's definition (its trigger and settings), or a standalone task's trigger alone.
    var textarea = document.querySelector('textarea[name="definition"]');
    var triggerOnly = !textarea;
    if (triggerOnly) textarea = document.querySelector('textarea[name="trigger"]');
    var type = input("trigger_type");
    var top = triggerOnly ? [] : TOP;
    if (!textarea || !type) return;
    var zoneRow = row("trigger_timezone");
    var preview = document.createElement("div");
    preview.id = "trigger-preview";
    preview.className = "help";
    preview.setAttribute("aria-live", "polite");
    zoneRow.parentNode.insertBefore(preview, zoneRow.nextSibling);

    // Until the first answer, the preview holds the room of one: a title line and as many lines
    // as the server lists fires. The answer comes after the page has loaded; without the room it
    // pushed what is below (the versions, the execution records) down under a click aimed there.
    function holdRoom() {
      if (preview.hasChildNodes() || !urls.fires) return;
      var title = document.createElement("strong");
      title.textContent = "\u00a0";
      preview.appendChild(title);
      var list = document.createElement("ol");
      for (var i = 0; i < urls.fires; i++) {
        var item = document.createElement("li");
        item.textContent = "\u00a0";
        list.appendChild(item);
      }
      preview.appendChild(list);
    }

    function showRows() {
      var shown = TRIGGER_FIELDS[type.value] || {};
      var fields = Object.keys(shown).map(function (k) { return shown[k]; });
      TRIGGER_ROWS.forEach(function (name) {
        var r = row(name);
        if (r) r.hidden = fields.indexOf(name) < 0;
      });
      preview.hidden = type.value === "none";
    }

    function readDocument() {
      try {
        var doc = JSON.parse(textarea.value || (triggerOnly ? '{"type": "none"}' : ""));
        if (!doc || typeof doc !== "object" || Array.isArray(doc)) return null;
        return triggerOnly ? { trigger: doc } : doc;
      } catch (e) {
        return null;  // YAML or text being typed: the fields stay as they are
      }
    }

    function writeDocument(doc) {
      textarea.value = JSON.stringify(triggerOnly ? doc.trigger : doc, null, 2);
    }

    function triggerOfFields(old) {
      var kind = type.value;
      var trigger = { type: kind };
      var fields = TRIGGER_FIELDS[kind] || {};
      Object.keys(fields).forEach(function (key) {
        var v = value(fields[key]);
        if (key === "timezone" && !v) v = "UTC";
        if (v !== "" && v !== undefined) trigger[key] = v;
      });
      if (old && typeof old === "object" && old.params && kind !== "none") trigger.params = old.params;
      return trigger;
    }

    // A field changed: write the settings into the JSON and let the editor re-read it.
    function toTextarea() {
      var doc = readDocument();
      if (!doc) return;
      top.forEach(function (name) {
        var v = value(name);
        if (v === undefined || v === "") return;
        doc[name] = v;
      });
      doc.trigger = triggerOfFields(doc.trigger);
      writeDocument(doc);
      // The editor re-reads at once (not on "input", debounced: a canvas edit meanwhile would write its stale copy).
      textarea.dispatchEvent(new CustomEvent("baton:definition-edited"));
    }

    // The JSON changed (typed, or rewritten by the editor): the fields follow it.
    function fromTextarea() {
      var doc = readDocument();
      if (!doc) return;
      top.forEach(function (name) {
        if (!(name in doc)) return;
        if (name === "team" && input("team") && !Array.prototype.some.call(input("team").options, function (o) { return o.value === doc.team; })) return;
        setValue(name, doc[name]);
      });
      var trigger = doc.trigger && typeof doc.trigger === "object" ? doc.trigger : { type: "none" };
      if (TRIGGER_FIELDS[trigger.type] && document.activeElement !== type) {
        type.value = trigger.type;
        var fields = TRIGGER_FIELDS[trigger.type];
        Object.keys(fields).forEach(function (key) { setValue(fields[key], trigger[key]); });
      }
      showRows();
      previewSoon();
    }

    // --- the next fire times, asked of the server while typing -----------------------
    var sequence = 0;
    function clearLiveErrors() {
      document.querySelectorAll(".baton-live-error").forEach(function (el) { el.remove(); });
    }

    function liveError(field, message) {
      var r = row(field) || row("trigger_type");
      var list = document.createElement("ul");
      list.className = "errorlist baton-live-error";
      list.id = "live-error-" + (field || "trigger_type");
      var item = document.createElement("li");
      item.textContent = message;
      list.appendChild(item);
      var target = input(field) || type;
      target.parentNode.insertBefore(list, target);
      if (r) r.hidden = false;
    }

    function askPreview() {
      var mine = ++sequence;
      var kind = type.value;
      if (kind === "none") { clearLiveErrors(); preview.textContent = ""; preview.dataset.state = "none"; return; }
      var trigger = triggerOfFields(null);
      var query = new URLSearchParams();
      Object.keys(trigger).forEach(function (key) { query.set(key, String(trigger[key])); });
      holdRoom();
      preview.dataset.state = "pending";
      preview.setAttribute("aria-busy", "true");
      fetch(urls.preview + "?" + query.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.json(); })
        .then(function (data) {
          if (mine !== sequence) return;
          preview.removeAttribute("aria-busy");
          clearLiveErrors();
          preview.textContent = "";
          if (!data.ok) {
            data.problems.forEach(function (p) { liveError(p.field, p.message); });
            preview.dataset.state = "invalid";
            return;
          }
          var title = document.createElement("strong");
          title.textContent = interpolate(gettext("Next fire times in %(zone)s (UTC%(offset)s):"), { zone: data.zone, offset: data.offset }, true);
          preview.appendChild(title);
          var list = document.createElement("ol");
          list.id = "trigger-next-fires";
          data.fires.forEach(function (fire) {
            var item = document.createElement("li");
            var time = document.createElement("time");
            time.dateTime = fire.iso;
            time.title = interpolate(gettext("UTC: %(time)s"), { time: fire.utc }, true);
            time.textContent = fire.text;
            item.appendChild(time);
            list.appendChild(item);
          });
          if (!data.fires.length) {
            var none = document.createElement("li");
            none.textContent = gettext("No fire time ahead.");
            list.appendChild(none);
          }
          preview.appendChild(list);
          preview.dataset.state = "ready";
        })
        .catch(function (err) {
          if (mine !== sequence) return;
          preview.removeAttribute("aria-busy");
          preview.textContent = interpolate(gettext("Could not compute the fire times: %(error)s"), { error: err.message }, true);
          preview.dataset.state = "error";
        });
    }
    var previewSoon = debounce(askPreview, 250);

    var fields = ["trigger_type"].concat(TRIGGER_ROWS, top);
    fields.forEach(function (name) {
      var el = input(name);
      if (!el) return;
      var changed = function () {
        if (name === "trigger_type") showRows();
        toTextarea();
        if (name === "trigger_type" || TRIGGER_ROWS.indexOf(name) >= 0) previewSoon();
      };
      el.addEventListener("input", changed);
      if (el.tagName === "SELECT" || el.type === "checkbox") el.addEventListener("change", changed);
    });
    textarea.addEventListener("input", debounce(fromTextarea, 300));
    // The canvas rewrites the JSON from its own copy: the fields' keys go back in before the POST.
    textarea.form.addEventListener("submit", function () {
      var doc = readDocument();
      if (doc) { doc.trigger = triggerOfFields(doc.trigger); writeDocument(doc); }
    });
    showRows();
    askPreview();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var urls = document.getElementById("baton-settings-urls");
    if (urls) {
      window.batonSettings = new Settings({ preview: urls.dataset.previewUrl, fires: Number(urls.dataset.previewFires) || 0 });
    }
  });
})();
