// The admin pages' behaviour (the Content-Security-Policy allows scripts
// from this origin only). Every form works without it; it adds rows to
// the settings form and shows each action-flow step's own fields.
(function () {
  'use strict';

  // <button data-add-row="#template" data-rows="#container"> appends the
  // template's row, its "__i__" replaced by a number no row has yet.
  var next = 1000;
  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-add-row]');
    if (!btn) { return; }
    var tpl = document.querySelector(btn.getAttribute('data-add-row'));
    var rows = document.querySelector(btn.getAttribute('data-rows'));
    if (!tpl || !rows) { return; }
    var n = String(next++);
    var holder = document.createElement('div');
    holder.innerHTML = tpl.innerHTML.split('__i__').join(n);
    var row = holder.firstElementChild;
    while (row && !row.hasAttribute('data-row')) { row = row.nextElementSibling; }
    if (!row) { return; }
    rows.appendChild(row);
    flowKinds(row);
    var first = row.querySelector('input, select, textarea');
    if (first) { first.focus(); }
  });

  // An action-flow step shows the fields of its kind (queue or reply).
  function flowKinds(root) {
    (root || document).querySelectorAll('[data-flow-kind]').forEach(function (sel) {
      var step = sel.closest('[data-row]');
      if (!step) { return; }
      step.querySelectorAll('[data-flow-part]').forEach(function (part) {
        part.hidden = part.getAttribute('data-flow-part') !== sel.value;
      });
    });
  }
  document.addEventListener('change', function (e) {
    if (e.target.matches && e.target.matches('[data-flow-kind]')) { flowKinds(e.target.closest('[data-row]')); }
  });
  document.addEventListener('DOMContentLoaded', function () { flowKinds(document); });
})();
