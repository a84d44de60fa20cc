// The reports' charts and the operations pages' small behaviours (no
// inline script: the Content-Security-Policy allows scripts from this
// origin only). A chart is <div data-chart="{labels, series}">: drawn
// with uPlot as grouped bars; the table beside it has the same numbers.
(function () {
  'use strict';

  // Colours with at least 3:1 contrast on white (WCAG non-text contrast).
  var colours = ['#0b5cad', '#146c2e', '#a1191b', '#7a4b00'];

  function drawChart(el) {
    if (!window.uPlot || el.getAttribute('data-drawn')) { return; }
    var data;
    try { data = JSON.parse(el.getAttribute('data-chart')); } catch (e) { return; }
    if (!data || !data.labels || !data.labels.length) { return; }
    el.setAttribute('data-drawn', 'true');
    var xs = data.labels.map(function (_, i) { return i; });
    var width = chartWidth(el);
    // Series are nested bars, each narrower and drawn over the one
    // before, so every value stays visible (no stacking arithmetic).
    var sizes = [0.8, 0.55, 0.32, 0.16];
    var series = [{ label: 'Group', value: function (u, v) { return v == null ? '' : data.labels[v]; } }];
    var rows = [xs];
    data.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: colours[i % colours.length],
        fill: colours[i % colours.length],
        width: 0,
        paths: uPlot.paths.bars({ size: [sizes[i % sizes.length], 80], align: 0 }),
        points: { show: false }
      });
      rows.push(s.values);
    });
    var opts = {
      width: width,
      height: 200,
      series: series,
      legend: { live: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, xs.length - 0.5] }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      axes: [
        { splits: function () { return xs; }, values: function (u, vals) { return vals.map(function (v) { var l = data.labels[v] || ''; return l.length > 14 ? l.slice(0, 13) + '…' : l; }); }, stroke: '#1a1a1a' },
        { stroke: '#1a1a1a', values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? String(v) : ''; }); } }
      ]
    };
    charts.push({ el: el, plot: new uPlot(opts, rows, el) });
  }

  // Charts follow their container's width (a phone turned, a window
  // narrowed): no chart is wider than the screen.
  var charts = [];
  function chartWidth(el) { return Math.max(200, Math.min(el.clientWidth || 640, 672)); }
  var resizing = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      charts = charts.filter(function (c) { return document.body.contains(c.el); });
      charts.forEach(function (c) { c.plot.setSize({ width: chartWidth(c.el), height: 200 }); });
    }, 100);
  });

  function drawAll(root) {
    (root || document).querySelectorAll('[data-chart]').forEach(drawChart);
  }

  // The form's group-by choices follow the report chosen.
  var groupBys = {
    interactions: ['account', 'queue', 'agent', 'channel', 'disposition', 'day', 'week'],
    deliveries: ['account', 'channel', 'class', 'code', 'day']
  };
  function syncGroupBy() {
    var report = document.getElementById('r-report');
    var group = document.getElementById('r-groupBy');
    if (!report || !group) { return; }
    var want = groupBys[report.value] || groupBys.interactions;
    var current = group.value;
    while (group.options.length) { group.remove(0); }
    want.forEach(function (g) {
      var o = document.createElement('option');
      o.value = g; o.textContent = g; o.selected = g === current;
      group.appendChild(o);
    });
  }

  // The migration form: the field the API's message names gets the focus.
  function focusInvalid() {
    var err = document.getElementById('form-error');
    var name = err && err.getAttribute('data-field');
    var field = name && document.querySelector('[name="' + name.replace(/"/g, '') + '"]');
    if (field) { field.focus(); }
  }

  document.addEventListener('DOMContentLoaded', function () {
    drawAll();
    focusInvalid();
    var report = document.getElementById('r-report');
    if (report) { report.addEventListener('change', syncGroupBy); }
  });
  // A refreshed fragment (the migration's status, the live overview)
  // keeps the focus where it was: the element with the same id, or the
  // same link, gets it back after the swap.
  var refocus = null;
  document.addEventListener('htmx:beforeSwap', function (e) {
    var a = document.activeElement;
    refocus = null;
    if (a && a !== document.body && e.detail.target && e.detail.target.contains(a)) {
      refocus = a.id ? '#' + a.id : (a.getAttribute('href') ? 'a[href="' + a.getAttribute('href').replace(/"/g, '') + '"]' : null);
    }
  });
  document.addEventListener('htmx:afterSettle', function (e) {
    drawAll(e.target);
    if (refocus) {
      var el = document.querySelector(refocus);
      if (el) { el.focus(); }
      refocus = null;
    }
  });
})();
