/* Baton: the standalone task page's config as the form of its kind (task-forms.js). No dependencies.
 *
 * The form is drawn above the page's `config` text area and writes the whole config into it as
 * JSON on each edit; typing in the text area redraws the form. A new kind starts from that
 * kind's default config. Saving stays the admin form's POST through `task_save`, whose problems
 * show on the config field.
 */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var data = document.getElementById("baton-task-page");
    var config = document.getElementById("id_config");
    var kind = document.getElementById("id_kind");
    if (!data || !config || !kind || !window.BatonTaskForms) return;
    var defaults = JSON.parse(data.dataset.taskKinds);
    var callables = JSON.parse(data.dataset.callables);
    var slot = document.createElement("div");
    slot.id = "task-form-slot";
    config.parentNode.insertBefore(slot, config);

    function draw() {
      slot.innerHTML = "";
      var current;
      try { current = JSON.parse(config.value); } catch (e) { return; }  // YAML or text being typed: JSON only
      var form = window.BatonTaskForms.build(kind.value, current, {
        callables: callables,
        onChange: function (next) { config.value = JSON.stringify(next, null, 2); }
      });
      if (form) slot.appendChild(form.element);
    }
    kind.addEventListener("change", function () {
      config.value = JSON.stringify(defaults[kind.value] || {}, null, 2);
      draw();
    });
    var timer = null;
    config.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(draw, 300); });
    draw();
  });
})();
