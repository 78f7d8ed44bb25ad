/* Baton: the live batch page — the DAG coloured by node state, a timeline, node output.
 * Polls the batch's state endpoint every second while the batch runs. When a batch that was
 * running at page load ends, the page reloads once, so the fields and tables the admin drew
 * at load (status, finished at, node runs, events) show the final state too; the selected
 * node is kept in the URL's fragment (#node=KEY) and shown again after the reload. Once the
 * final state is drawn and no reload follows, #batch-live gets data-live="final".
 * Hand-written, no dependencies; draws with BatonDag (workflows/static/baton/dag.js).
 */
(function () {
  "use strict";
  var COLOURS = {
    pending: "#9e9e9e", queued: "#7e57c2", running: "#1e88e5", retrying: "#fb8c00", succeeded: "#2e7d32",
    failed: "#c62828", timed_out: "#ad1457", skipped: "#bdbdbd", stopped: "#6d4c41"
  };
  var POLL_MS = 1000;
  // Django's JavaScript catalogue (/jsi18n/, loaded before this script) translates; without it, English.
  var gettext = window.gettext || function (text) { return text; };
  var pgettext = window.pgettext || function (context, text) { return text; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };
  // A status as a person reads it; the value itself (data-status, classes) stays the API's.
  var STATUS_WORDS = {
    pending: pgettext("status", "pending"), queued: pgettext("status", "queued"), running: pgettext("status", "running"),
    retrying: pgettext("status", "retrying"), succeeded: pgettext("status", "succeeded"), failed: pgettext("status", "failed"),
    timed_out: pgettext("status", "timed_out"), skipped: pgettext("status", "skipped"), stopped: pgettext("status", "stopped")
  };
  function statusText(status) { return STATUS_WORDS[status] || status; }

  function h(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function seconds(a, b) { return (Date.parse(b) - Date.parse(a)) / 1000; }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // How long something took, as the server says it (executions.admin.duration_text): 0.42 s, 3 min 05 s, 2 h 07 min.
  function duration(total) {
    if (total < 10) return interpolate(gettext("%(seconds)s s"), { seconds: total.toFixed(2) }, true);
    if (total < 60) return interpolate(gettext("%(seconds)s s"), { seconds: total.toFixed(1) }, true);
    var minutes = Math.floor(total / 60), hours = Math.floor(minutes / 60);
    if (minutes < 60) return interpolate(gettext("%(minutes)s min %(seconds)s s"), { minutes: minutes, seconds: pad(Math.floor(total) % 60) }, true);
    if (hours < 48) return interpolate(gettext("%(hours)s h %(minutes)s min"), { hours: hours, minutes: pad(minutes % 60) }, true);
    return interpolate(gettext("%(days)s d %(hours)s h"), { days: Math.floor(hours / 24), hours: pad(hours % 24) }, true);
  }

  function Live(root) {
    var D = window.BatonDag;
    var svg = document.getElementById("dag-canvas");
    var view = D.create(svg, { onNodeActivate: showOutput, autoHeight: true });
    D.zoomControls(document.getElementById("batch-toolbar"), view);
    var drawing = null;
    var selected = null;
    var first = true;
    var loadedRunning = root.dataset.status === "running";
    var fragment = /^#node=(.+)$/.exec(window.location.hash);

    function poll() {
      var url = root.dataset.stateUrl + (drawing ? "" : "?drawing=1");
      D.getJSON(url).then(function (state) {
        if (state.definition) drawing = state;
        update(state);
        if (state.batch.running) setTimeout(poll, POLL_MS);
        else if (loadedRunning) window.location.reload();  // once: the reloaded page was drawn finished
        else {
          document.getElementById("batch-live-note").textContent = "";
          root.dataset.live = "final";  // drawn in its final state; no reload follows (tests wait on it)
        }
      }).catch(function (err) {
        document.getElementById("batch-live-note").textContent = interpolate(gettext("(live updates paused: %(error)s; retrying)"), { error: err.message }, true);
        setTimeout(poll, POLL_MS * 3);
      });
    }

    function update(state) {
      var status = {};
      Object.keys(state.runs).forEach(function (k) { status[k] = state.runs[k].status; });
      status.start = "succeeded";
      view.render({ nodes: drawing.definition.nodes, edges: drawing.definition.edges, positions: drawing.positions,
        status: status, selected: selected ? { node: selected } : null });
      if (first) {
        view.fit(true);
        first = false;
        if (fragment && state.runs[decodeURIComponent(fragment[1])]) showOutput(decodeURIComponent(fragment[1]));
      }
      root.dataset.status = state.batch.status;
      var badge = document.getElementById("batch-status");
      badge.textContent = statusText(state.batch.status) + (state.batch.running && state.batch.stop_requested ? " " + gettext("(stopping…)") : "");
      badge.className = "baton-status status-" + state.batch.status;
      badge.style.cssText = "background:" + (COLOURS[state.batch.status] || "#607d8b") + ";color:#fff;padding:1px 6px;border-radius:8px";
      document.getElementById("batch-live-note").textContent = state.batch.running ? gettext("updating live") : "";
      var paused = document.getElementById("batch-paused");  // a pause from the API or the CLI shows too
      if (paused) paused.hidden = !state.batch.paused;
      Object.keys(state.actions).forEach(function (action) {  // every button the table allows now
        document.querySelectorAll('[data-action="' + action + '"]').forEach(function (li) {
          li.hidden = !state.actions[action];
          li.style.display = state.actions[action] ? "" : "none";  // the admin's CSS overrides [hidden]
        });
      });
      timeline(state);
      failures(state);
      if (selected && state.runs[selected] && state.runs[selected].status !== lastShown) showOutput(selected);
      else if (selected && state.runs[selected] && state.runs[selected].status === "running") refreshOutput(selected);
    }

    // Each failed or timed-out task node: how it ended and its last lines, without a click.
    function failures(state) {
      var box = document.getElementById("batch-failures");
      if (!box) return;
      var failed = Object.keys(state.runs).filter(function (k) {
        var run = state.runs[k];
        return run.type === "task" && (run.status === "failed" || run.status === "timed_out");
      });
      box.hidden = !failed.length;
      box.textContent = "";
      if (!failed.length) return;
      box.appendChild(h("h3", {}, gettext("Failed nodes")));
      failed.forEach(function (k) {
        var run = state.runs[k];
        var item = h("div", { class: "failure", "data-key": k });
        var link = h("a", { href: "#node=" + encodeURIComponent(k), class: "failure-node" }, k);
        link.addEventListener("click", function (event) { event.preventDefault(); showOutput(k); });
        item.appendChild(link);
        var said = statusText(run.status) + (run.outcome ? " — " + run.outcome : "");
        item.appendChild(h("span", { class: "failure-outcome" }, " · " + said));
        if (run.tail) item.appendChild(h("pre", { class: "failure-tail" }, run.tail));
        box.appendChild(item);
      });
    }

    function timeline(state) {
      var box = document.getElementById("batch-timeline");
      var begin = state.batch.created_at;
      var end = state.batch.finished_at || state.now;
      var runs = Object.keys(state.runs).filter(function (k) { return state.runs[k].type === "task"; });
      runs.forEach(function (k) {
        var r = state.runs[k];
        if (!r.kept_from && r.finished_at && r.finished_at > end) end = r.finished_at;
      });
      var total = Math.max(0.001, seconds(begin, end));
      box.innerHTML = "";
      runs.forEach(function (k) {
        var r = state.runs[k];
        var row = h("div", { class: "gantt-row", role: "listitem", "data-key": k, "data-status": r.status });
        row.appendChild(h("div", { class: "gantt-label", title: k }, k));
        var track = h("div", { class: "gantt-track" });
        if (r.kept_from) {
          // Kept by a resume: it ran in the original batch, before this one's time axis begins.
          row.classList.add("gantt-kept");
          track.appendChild(h("div", { class: "gantt-kept-note" }, interpolate(gettext("kept from %(batch)s"), { batch: r.kept_from }, true)));
          row.appendChild(track);
          row.appendChild(h("div", { class: "gantt-time" }, gettext("kept")));
          box.appendChild(row);
          return;
        }
        if (r.started_at) {
          var stop = r.finished_at || state.now;
          var left = Math.max(0, seconds(begin, r.started_at) / total * 100);
          var width = Math.max(0.3, seconds(r.started_at, stop) / total * 100);
          var bar = h("div", { class: "gantt-bar", title: k + ": " + statusText(r.status) + ", " + duration(seconds(r.started_at, stop)) });
          bar.style.left = left + "%";
          bar.style.width = Math.min(width, 100 - left) + "%";
          bar.style.setProperty("--c", COLOURS[r.status] || "#9e9e9e");
          track.appendChild(bar);
        }
        row.appendChild(track);
        var took = r.started_at ? duration(seconds(r.started_at, r.finished_at || state.now)) : statusText(r.status);
        row.appendChild(h("div", { class: "gantt-time" }, took));
        box.appendChild(row);
      });
      if (!runs.length) box.appendChild(h("p", {}, gettext("No task node has run yet.")));
    }

    function noOutput(run) { return gettext("(no output)") + (run.outcome ? " — " + run.outcome : ""); }

    var lastShown = null;
    // The running node's output, written about once a second by its heartbeat: follow its tail,
    // unless the reader scrolled up (then the text updates and the scroll stays put).
    function refreshOutput(key) {
      var url = root.dataset.outputUrl.replace("NODE_KEY", encodeURIComponent(key));
      D.getJSON(url).then(function (run) {
        var pre = document.getElementById("node-output-text");
        if (!pre || selected !== key || run.status !== "running") return;
        var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
        var text = run.output || noOutput(run);
        if (pre.textContent !== text) {
          pre.textContent = text;
          if (atEnd) pre.scrollTop = pre.scrollHeight;
        }
      });
    }
    function showOutput(key) {
      if (key === "start") return;
      selected = key;
      view.select({ node: key });
      history.replaceState(null, "", "#node=" + encodeURIComponent(key));
      var url = root.dataset.outputUrl.replace("NODE_KEY", encodeURIComponent(key));
      D.getJSON(url).then(function (run) {
        lastShown = run.status;
        var panel = document.getElementById("node-output");
        panel.innerHTML = "";
        panel.appendChild(h("h3", {}, interpolate(gettext("Node %(node)s"), { node: key }, true)));
        panel.appendChild(h("p", { id: "node-output-status" }, statusText(run.status) + (run.type === "task" ? " · " + interpolate(gettext("attempts %(count)s"), { count: run.attempts }, true) : "")));
        if (run.type === "task") {
          // How it ended beyond the status: exit status or signal, the error, or where a resume kept it from.
          if (run.outcome) panel.appendChild(h("p", { id: "node-output-outcome", class: "outcome" }, run.outcome));
          panel.appendChild(h("pre", { id: "node-output-text" }, run.output || noOutput(run)));
          var names = Object.keys(run.outputs || {});
          if (names.length) {
            // The values it published for later nodes (${nodes.KEY.outputs.NAME}).
            panel.appendChild(h("h4", {}, "Outputs"));
            panel.appendChild(h("pre", { id: "node-output-values" }, names.map(function (name) {
              var value = run.outputs[name];
              return name + " = " + (typeof value === "string" ? value : JSON.stringify(value));
            }).join("\n")));
          }
          // Recover it from here (mark succeeded, skip, re-run from it), when this user may recover the batch.
          var recover = document.getElementById("recover-batch");
          if (recover && !recover.closest("li").hidden) {
            panel.appendChild(h("p", {}, "")).appendChild(h("a", {
              id: "node-output-recover", class: "button", href: recover.getAttribute("href") + "?node=" + encodeURIComponent(key)
            }, gettext("Recover this node…")));
          }
          if (run.attempt_list && run.attempt_list.length > 1) {
            run.attempt_list.forEach(function (a) {
              panel.appendChild(h("h4", {}, interpolate(gettext("Attempt %(number)s"), { number: a.number }, true) + " — " + statusText(a.status) + (a.outcome ? " (" + a.outcome + ")" : "")));
              panel.appendChild(h("pre", {}, a.output || noOutput(a)));
            });
          }
        } else {
          panel.appendChild(h("p", { class: "hint" }, gettext("A logic node has no output.")));
        }
      });
    }

    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("batch-live");
    if (root) new Live(root);
  });
})();
