// The console's shared behaviour (no inline script: the Content-Security-
// Policy allows scripts from this origin only). Area scripts: agent.js,
// admin.js.
(function () {
  'use strict';

  // Event streams resume where they stopped. A browser's EventSource sends
  // Last-Event-ID when it reconnects by itself; when the SSE extension
  // builds a new one (after the server refused or closed the stream), the
  // id of the last event seen goes in the URL (lastEventId), which the API
  // accepts as well.
  var lastEventId = {};
  function streamKey(url) { return url.split('?')[0]; }
  document.addEventListener('htmx:sseMessage', function (e) {
    var msg = e.detail;
    var conn = e.target && e.target.closest && e.target.closest('[sse-connect]');
    if (msg && msg.lastEventId && conn) {
      lastEventId[streamKey(conn.getAttribute('sse-connect'))] = msg.lastEventId;
    }
  });
  function installEventSource() {
    if (!window.htmx) { return; }
    htmx.createEventSource = function (url) {
      var id = lastEventId[streamKey(url)];
      if (id) { url += (url.indexOf('?') < 0 ? '?' : '&') + 'lastEventId=' + encodeURIComponent(id); }
      return new EventSource(url, { withCredentials: true });
    };
  }

  // The "reconnecting" banner: shown while a stream is down.
  function setConn(down) {
    var el = document.getElementById('conn');
    if (el) { el.hidden = !down; }
    document.body.classList.toggle('offline', down);
  }
  document.addEventListener('htmx:sseError', function () { setConn(true); });
  document.addEventListener('htmx:sseOpen', function () { setConn(false); });

  // Copy buttons: <button data-copy="#id"> copies the text (or value) of
  // the element it names, and says so.
  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-copy]');
    if (!btn) { return; }
    var src = document.querySelector(btn.getAttribute('data-copy'));
    if (!src) { return; }
    var text = src.value !== undefined ? src.value : src.textContent;
    var done = function () {
      var was = btn.getAttribute('data-label') || btn.textContent;
      btn.setAttribute('data-label', was);
      btn.textContent = 'Copied';
      btn.setAttribute('data-copied', 'true');
      setTimeout(function () { btn.textContent = was; btn.removeAttribute('data-copied'); }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  });
  function fallbackCopy(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'visually-hidden';
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand('copy'); } catch (err) { /* the text stays selectable on the page */ }
    document.body.removeChild(ta);
  }

  // Confirmation before destructive actions: <form data-confirm="…">.
  document.addEventListener('submit', function (e) {
    var f = e.target;
    var q = f.getAttribute && f.getAttribute('data-confirm');
    if (q && !window.confirm(q)) { e.preventDefault(); e.stopPropagation(); }
  }, true);
  document.addEventListener('htmx:confirm', function (e) {
    var q = e.target.getAttribute && e.target.getAttribute('data-confirm');
    if (!q) { return; }
    e.preventDefault();
    if (window.confirm(q)) { e.detail.issueRequest(true); }
  });

  // Relative times: <time data-countdown="RFC3339"> shows what is left
  // (the 24-hour window), <time data-ago="RFC3339"> how long ago.
  function fmt(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h > 0) { return h + ' h ' + m + ' min'; }
    if (m > 0) { return m + ' min'; }
    return s + ' s';
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll('time[data-countdown]').forEach(function (t) {
      var left = Date.parse(t.getAttribute('data-countdown')) - now;
      t.textContent = left > 0 ? fmt(left) + ' left' : 'closed';
      t.classList.toggle('closed', left <= 0);
    });
    document.querySelectorAll('time[data-ago]').forEach(function (t) {
      t.textContent = fmt(now - Date.parse(t.getAttribute('data-ago'))) + ' ago';
    });
  }
  setInterval(tick, 15000);
  document.addEventListener('htmx:afterSettle', tick);

  installEventSource(); // (deferred scripts run in order: htmx is loaded)
  document.addEventListener('DOMContentLoaded', tick);
})();
