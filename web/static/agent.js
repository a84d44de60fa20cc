// The agent area's behaviour: the live inbox and thread, the reply box
// (Enter sends, the 4,096-character count, canned answers on "/",
// WhatsApp's attachment matrix checked before upload), the customer
// service window, and the keyboard shortcuts. No inline script: the
// Content-Security-Policy allows scripts from this origin only. The inbox
// comes whole from the API (offers, unread counts, windows): the page
// keeps nothing but the inbox's order, for j and k.
(function () {
  'use strict';

  function load(key) {
    try { return JSON.parse(sessionStorage.getItem(key) || '[]'); } catch (e) { return []; }
  }
  function save(key, ids) { sessionStorage.setItem(key, JSON.stringify(ids.slice(-200))); }

  function eventData(evt) {
    var t = evt && evt.detail && evt.detail.triggeringEvent;
    if (!t || !t.type || t.type.indexOf('sse:') !== 0 || !t.detail || !t.detail.data) { return null; }
    try { return { type: t.type.slice(4), data: JSON.parse(t.detail.data) }; } catch (e) { return null; }
  }

  // A conversation's thread re-reads only for its own events.
  document.addEventListener('htmx:confirm', function (evt) {
    var elt = evt.detail.elt;
    if (!elt || elt.id !== 'thread') { return; }
    var ev = eventData(evt);
    if (ev && ev.data.interactionId && String(ev.data.interactionId) !== elt.getAttribute('data-interaction')) {
      evt.preventDefault();
    }
  });
  // The server marks the messages a thread shows as read: not while the
  // page is out of view (another tab, a hidden window); it reads them
  // again when the page comes back into view.
  document.addEventListener('htmx:configRequest', function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.id === 'thread' && document.visibilityState === 'hidden') {
      evt.detail.parameters.unseen = '1';
    }
  });
  var unseen = false;
  document.addEventListener('htmx:afterSettle', function (e) {
    if (e.target && e.target.id === 'thread' && document.visibilityState === 'hidden') { unseen = true; }
  });
  document.addEventListener('visibilitychange', function () {
    var th = document.getElementById('thread');
    if (document.visibilityState === 'visible' && unseen && th && window.htmx) {
      unseen = false;
      htmx.trigger(th, 'agent-resync');
    }
  });

  // The reply box.
  function reply() { return document.getElementById('reply'); }
  function count() {
    var f = reply(); if (!f) { return; }
    var ta = document.getElementById('reply-text'), out = document.getElementById('reply-count');
    var max = Number(f.getAttribute('data-max')) || 4096;
    var n = Array.from(ta.value).length;
    out.textContent = n + ' / ' + max + (n > max ? ' (too long: WhatsApp takes ' + max + ' characters)' : '');
    out.classList.toggle('over', n > max);
    ta.setAttribute('aria-invalid', n > max ? 'true' : 'false');
    document.getElementById('send').disabled = n > max;
  }
  function clearReply() {
    var f = reply(); if (!f) { return; }
    document.getElementById('reply-text').value = '';
    document.getElementById('reply-file').value = '';
    chooseCanned(null);
    document.getElementById('reply-error').textContent = '';
    hideFileError();
    count();
  }
  document.body && document.body.addEventListener('agent-sent', clearReply);
  document.addEventListener('agent-sent', clearReply);

  function chooseCanned(btn) {
    var id = document.getElementById('canned-id'), note = document.getElementById('canned-chosen');
    if (!id) { return; }
    if (!btn) { id.value = ''; note.hidden = true; note.textContent = ''; return; }
    id.value = btn.getAttribute('data-id');
    var ta = document.getElementById('reply-text');
    ta.value = btn.getAttribute('data-text');
    note.textContent = 'Canned answer "' + btn.getAttribute('data-title') + '": its {{…}} fields are filled in when it is sent. Editing the text sends it as typed.';
    note.hidden = false;
    count();
    ta.focus();
  }
  function openCanned() {
    var d = document.getElementById('canned-dialog'); if (!d) { return; }
    var filter = document.getElementById('canned-filter');
    filter.value = ''; filterCanned();
    d.showModal(); filter.focus();
  }
  function filterCanned() {
    var q = document.getElementById('canned-filter').value.toLowerCase();
    document.querySelectorAll('#canned-list li').forEach(function (li) {
      li.hidden = q !== '' && li.textContent.toLowerCase().indexOf(q) < 0;
    });
  }

  function hideFileError() { var e = document.getElementById('file-error'); if (e) { e.hidden = true; e.textContent = ''; } }
  // checkFile refuses, before upload, a file whose type WhatsApp refuses,
  // with the API's message (data-matrix, from internal/media).
  function checkFile(input) {
    hideFileError();
    var f = input.files && input.files[0]; if (!f) { return true; }
    var matrix = {};
    try { matrix = JSON.parse(reply().getAttribute('data-matrix')).types || {}; } catch (e) { /* the API checks anyway */ }
    var dot = f.name.lastIndexOf('.');
    var ext = dot < 0 ? '' : f.name.slice(dot + 1).toLowerCase();
    var v = matrix[ext];
    if (v && !v.allowed) {
      var e = document.getElementById('file-error');
      e.textContent = v.message; e.hidden = false;
      input.value = '';
      input.setAttribute('aria-invalid', 'true');
      return false;
    }
    input.removeAttribute('aria-invalid');
    return true;
  }

  document.addEventListener('input', function (e) {
    if (e.target.id === 'reply-text') {
      var ta = e.target;
      if (document.getElementById('canned-id') && document.getElementById('canned-id').value) { chooseCanned(null); }
      if (ta.value === '/' && document.getElementById('canned-dialog')) { ta.value = ''; openCanned(); }
      count();
    } else if (e.target.id === 'canned-filter') {
      filterCanned();
    }
  });
  document.addEventListener('change', function (e) {
    if (e.target.id === 'reply-file') { checkFile(e.target); }
  });
  document.addEventListener('click', function (e) {
    var t = e.target.closest ? e.target : null; if (!t) { return; }
    if (t.closest('#canned-open')) { openCanned(); return; }
    var c = t.closest('.canned-choice');
    if (c) { document.getElementById('canned-dialog').close(); chooseCanned(c); return; }
    if (t.closest('[data-shortcuts]')) { openShortcuts(); }
  });
  document.addEventListener('keydown', function (e) {
    if (e.target.id === 'reply-text' && e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      var send = document.getElementById('send');
      if (!send.disabled && e.target.value.trim() !== '') { reply().requestSubmit(send); }
      return;
    }
    if (e.target.id === 'reply-text' && e.key === 'Escape') { e.target.blur(); return; }
    shortcut(e);
  });
  // A refused file never leaves the browser.
  document.addEventListener('htmx:confirm', function (evt) {
    var f = evt.detail.elt;
    if (f && f.id === 'reply') {
      var input = document.getElementById('reply-file');
      if (!checkFile(input)) { evt.preventDefault(); }
    }
  });

  // The customer service window: the thread says whether it is open; the box
  // follows, and closes by itself when the countdown ends.
  function syncWindow() {
    var th = document.getElementById('thread'), fs = document.getElementById('reply-fields');
    if (!th || !fs) { return; }
    var open = th.getAttribute('data-window-open') === 'true';
    var t = th.querySelector('time[data-countdown]');
    if (t && Date.parse(t.getAttribute('data-countdown')) <= Date.now()) { open = false; }
    fs.disabled = !open;
    document.getElementById('window-closed').hidden = open;
  }
  function scrollThread() {
    var th = document.querySelector('#thread .messages');
    if (th) { th.scrollTop = th.scrollHeight; }
  }
  document.addEventListener('htmx:afterSettle', function (e) {
    if (e.target && e.target.id === 'thread') { syncWindow(); scrollThread(); }
    if (e.target && e.target.id === 'inbox') { navIds(); }
  });
  setInterval(syncWindow, 15000);

  // Keyboard shortcuts (not while typing): j/k next and previous
  // conversation, r the reply box, c close, ? the list.
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function openShortcuts() { var d = document.getElementById('shortcuts'); if (d && !d.open) { d.showModal(); } }
  // The inbox's order, kept for moving between conversations.
  function navIds() {
    var links = document.querySelectorAll('#inbox .conv');
    if (!links.length && !document.getElementById('inbox')) { return; }
    save('agent.order', Array.from(links).map(function (li) { return Number(li.getAttribute('data-id')); }));
  }
  function move(step) {
    var links = Array.from(document.querySelectorAll('#inbox .conv-link'));
    if (links.length) {
      var i = links.indexOf(document.activeElement);
      var j = i < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, i + step));
      links[j].focus();
      return;
    }
    var page = document.querySelector('.conv-page'); if (!page) { return; }
    var ids = load('agent.order'), cur = Number(page.getAttribute('data-interaction'));
    var k = ids.indexOf(cur) + step;
    if (k >= 0 && k < ids.length) { window.location.assign('/console/agent/conversations/' + ids[k]); }
  }
  function shortcut(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) { return; }
    var d = document.querySelector('dialog[open]'); if (d) { return; }
    switch (e.key) {
      case '?': e.preventDefault(); openShortcuts(); break;
      case 'j': e.preventDefault(); move(1); break;
      case 'k': e.preventDefault(); move(-1); break;
      case 'r': var ta = document.getElementById('reply-text'); if (ta && !ta.disabled) { e.preventDefault(); ta.focus(); } break;
      case 'c': var ds = document.getElementById('disposition'); if (ds) { e.preventDefault(); ds.focus(); } break;
    }
  }

  // A page's stream starts with the events after it connects: what came
  // between the page's rendering and the first connection is read again
  // once (later reconnections resume with the last event id).
  var opened = false;
  document.addEventListener('htmx:sseOpen', function () {
    if (opened) { return; }
    opened = true;
    var el = document.getElementById('thread') || document.getElementById('inbox');
    if (el && window.htmx) { htmx.trigger(el, 'agent-resync'); }
  });

  // Back to a page kept by the browser (the back button): its inbox or
  // thread may be stale (a conversation read since): read it again.
  window.addEventListener('pageshow', function (e) {
    var el = document.getElementById('thread') || document.getElementById('inbox');
    if (e.persisted && el && window.htmx) { htmx.trigger(el, 'agent-resync'); }
  });

  document.addEventListener('DOMContentLoaded', function () {
    navIds(); count(); syncWindow(); scrollThread();
  });
})();
