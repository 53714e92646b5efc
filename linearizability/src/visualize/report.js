// Draws the report from the JSON block #report-data. Plain DOM + SVG, no
// libraries, so the page works offline and from a file:// URL.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var SVGNS = 'http://www.w3.org/2000/svg';
  // Geometry, in pixels.
  var ROW_H = 38, BOX_H = 24, TOP = 30, LEFT = 12, RIGHT = 90, GAP = 14, LABEL_W = 78;
  var CHAR_W = 6.7, MIN_BOX = 26, MAX_BOX = 300, BOTTOM = 12;

  function html(tag, cls, parent, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmtTime(ns) {
    if (ns < 1e3) return ns + ' ns';
    if (ns < 1e6) return (ns / 1e3).toFixed(1) + ' µs';
    if (ns < 1e9) return (ns / 1e6).toFixed(3) + ' ms';
    return (ns / 1e9).toFixed(4) + ' s';
  }
  function badge(result, parent) { return html('span', 'badge ' + result, parent, result); }

  // ---- summary -----------------------------------------------------------
  var summary = document.getElementById('summary');
  badge(data.result, summary);
  var counts = { Ok: 0, Illegal: 0, Unknown: 0 };
  data.partitions.forEach(function (p) { counts[p.result]++; });
  html('span', null, summary, data.operations + ' operations in ' + data.partitions.length +
    ' partition' + (data.partitions.length === 1 ? '' : 's') + ' (' + counts.Ok + ' ok, ' +
    counts.Illegal + ' illegal, ' + counts.Unknown + ' unknown) · ' + data.steps + ' search steps');
  var illegalLinks = html('span', null, summary);
  data.partitions.forEach(function (p, i) {
    if (p.result !== 'Illegal') return;
    var a = html('a', null, illegalLinks, p.name);
    a.href = '#part-' + i;
    a.style.marginRight = '8px';
    a.addEventListener('click', function (ev) { ev.preventDefault(); openPartition(i, true); });
  });

  // ---- partitions (drawn lazily when opened) --------------------------------
  var container = document.getElementById('partitions');
  var views = data.partitions.map(function (p, i) {
    var det = html('details', 'partition', container);
    det.id = 'part-' + i;
    var sum = html('summary', null, det);
    badge(p.result, sum);
    html('h2', null, sum, p.name);
    var clients = {};
    p.ops.forEach(function (o) { clients[o.c] = true; });
    html('span', 'meta', sum, p.ops.length + ' operations · ' + Object.keys(clients).length +
      ' clients · ' + p.steps + ' steps');
    var view = { p: p, index: i, details: det, svg: null };
    det.addEventListener('toggle', function () { if (det.open) draw(view); });
    // Open what needs attention; a long list of healthy partitions stays shut.
    if (p.result !== 'Ok' || data.partitions.length <= 3) det.open = true;
    return view;
  });

  function layout(p) {
    var ncol = p.times.length;
    var pos = new Array(ncol);
    var endingAt = [];
    for (var r = 0; r < ncol; r++) endingAt.push([]);
    p.ops.forEach(function (o, k) { endingAt[o.e].push(k); });
    // Each column sits GAP right of the previous one, and far enough right
    // that every box ending there has room for its description.
    for (r = 0; r < ncol; r++) {
      pos[r] = r === 0 ? 0 : pos[r - 1] + GAP;
      endingAt[r].forEach(function (k) {
        var o = p.ops[k];
        if (o.s < r) pos[r] = Math.max(pos[r], pos[o.s] + boxWidth(o));
      });
    }
    var ids = Object.keys(p.ops.reduce(function (m, o) { m[o.c] = 1; return m; }, {}))
      .map(Number).sort(function (a, b) { return a - b; });
    var rowOf = {};
    ids.forEach(function (c, k) { rowOf[c] = k; });
    return { pos: pos, clients: ids, rowOf: rowOf };
  }
  function boxWidth(o) {
    return Math.min(MAX_BOX, Math.max(MIN_BOX, o.d.length * CHAR_W + 12));
  }
  function fit(text, width) {
    var n = Math.floor((width - 8) / CHAR_W);
    if (n <= 1) return '';
    return text.length <= n ? text : text.slice(0, n - 1) + '…';
  }

  function draw(view) {
    if (view.svg) return;
    var p = view.p, L = layout(p);
    view.layout = L;
    var last = L.pos.length ? L.pos[L.pos.length - 1] : 0;
    var width = LEFT + last + RIGHT, height = TOP + L.clients.length * ROW_H + BOTTOM;
    // Client names stay put in their own column while the time axis scrolls.
    var strip = html('div', 'strip', view.details);
    var labels = svg('svg', { 'class': 'labels', width: LABEL_W, height: height }, strip);
    var scroll = html('div', 'scroll', strip);
    view.scroll = scroll;
    var s = svg('svg', { 'class': 'history', width: width, height: height }, scroll);
    view.svg = s;
    L.clients.forEach(function (c, k) {
      var odd = k % 2 ? ' odd' : '';
      svg('rect', { 'class': 'row-bg' + odd, x: 0, y: TOP + k * ROW_H, width: LABEL_W, height: ROW_H }, labels);
      svg('rect', { 'class': 'row-bg' + odd, x: 0, y: TOP + k * ROW_H, width: width, height: ROW_H }, s);
      var t = svg('text', { 'class': 'client', x: 10, y: TOP + k * ROW_H + ROW_H / 2 + 4 }, labels);
      t.textContent = 'client ' + c;
    });
    // Time axis: a label wherever there is room for one.
    svg('line', { 'class': 'axis', x1: LEFT, y1: TOP - 4, x2: width - RIGHT / 2, y2: TOP - 4 }, s);
    var lastLabel = -1e9;
    L.pos.forEach(function (x, r) {
      if (x - lastLabel < 120) return;
      lastLabel = x;
      svg('line', { 'class': 'axis', x1: LEFT + x, y1: TOP - 8, x2: LEFT + x, y2: TOP - 1 }, s);
      var t = svg('text', { 'class': 'tick', x: LEFT + x + 2, y: TOP - 11 }, s);
      t.textContent = '+' + fmtTime(p.times[r]);
    });
    view.boxes = p.ops.map(function (o, k) {
      var g = svg('g', { 'class': 'op' }, s);
      var x = LEFT + L.pos[o.s], w = Math.max(L.pos[o.e] - L.pos[o.s], 6);
      var y = TOP + L.rowOf[o.c] * ROW_H + (ROW_H - BOX_H) / 2;
      svg('rect', { x: x, y: y, width: w, height: BOX_H, rx: 3 }, g);
      var t = svg('text', { x: x + 7, y: y + BOX_H / 2 + 4 }, g);
      t.textContent = fit(o.d, w - 3);
      var title = svg('title', {}, g);
      title.textContent = o.d + '\nclient ' + o.c + ', operation #' + o.h + '\ncall ' + fmtTime(o.cs) + ', return ' + fmtTime(o.ce);
      g.addEventListener('mouseenter', function () { if (!pinned) select(view, k, false); });
      g.addEventListener('mouseleave', function () { if (!pinned) clearSelection(); });
      g.addEventListener('click', function (ev) {
        ev.stopPropagation();
        if (pinned && pinned.view === view && pinned.op === k) { pinned = null; clearSelection(); }
        else select(view, k, true);
      });
      return { g: g, x: x, w: w, y: y };
    });
    view.overlay = svg('g', {}, s);
    s.addEventListener('click', function () { if (pinned) { pinned = null; clearSelection(); } });
  }

  // ---- selection -----------------------------------------------------------
  var current = null, pinned = null;
  var panel = document.getElementById('panel-body');

  function clearSelection() {
    if (current) {
      var v = current.view;
      v.svg.classList.remove('selecting');
      v.boxes.forEach(function (b) { b.g.classList.remove('lin', 'blocked', 'selected'); });
      while (v.overlay.firstChild) v.overlay.removeChild(v.overlay.firstChild);
    }
    current = null;
    panel.textContent = '';
    html('p', 'muted', panel, 'Nothing selected.');
  }

  // The linearization ending at trie node `end`: [{op, state}] from the first.
  function path(p, end) {
    var out = [];
    for (var n = end; n > 0; n = p.trie[n][0]) out.push({ op: p.trie[n][1], state: p.trie[n][2] });
    return out.reverse();
  }

  function select(view, k, pin) {
    clearSelection();
    var p = view.p;
    current = { view: view, op: k };
    if (pin) pinned = current;
    view.svg.classList.add('selecting');
    view.boxes[k].g.classList.add('selected');
    panel.textContent = '';
    var head = html('h3', null, panel);
    head.textContent = p.name + ' · operation #' + p.ops[k].h;
    html('div', 'desc', panel, p.ops[k].d);
    var li = p.largest[k];
    if (li < 0) {
      html('p', 'muted', panel, 'The search never reached a point where this operation could be linearized' +
        (p.result === 'Unknown' ? ' before the budget ran out.' : '.'));
      return;
    }
    var partial = p.partials[li], seq = path(p, partial.end);
    var complete = partial.blocked < 0;
    html('p', 'muted', panel, complete
      ? 'A complete linearization of this partition (' + seq.length + ' operations).'
      : 'The longest partial linearization containing this operation: ' + seq.length + ' of ' +
        p.ops.length + ' operations in a legal order, then one that cannot follow.');
    drawLinearization(view, seq, partial);
    var list = html('ol', null, panel);
    var init = html('li', 'init', list);
    html('span', 'num', init, '');
    html('span', null, init, 'initial state ');
    html('span', 'state', init, data.states[p.trie[0][2]]);
    seq.forEach(function (step, i) {
      var item = html('li', null, list);
      html('span', 'num', item, (i + 1) + '.');
      html('span', 'desc', item, p.ops[step.op].d);
      html('span', 'muted', item, '  client ' + p.ops[step.op].c);
      var st = html('div', 'state', item, '→ ' + data.states[step.state]);
      st.title = 'state after this operation';
      item.addEventListener('click', function () { reveal(view, step.op, true); });
    });
    if (!complete) {
      var b = partial.blocked;
      var prev = seq.length ? seq[seq.length - 1].state : p.trie[0][2];
      var bad = html('li', 'bad', list);
      html('span', 'num', bad, '✗');
      html('span', 'desc', bad, p.ops[b].d);
      html('span', 'muted', bad, '  client ' + p.ops[b].c);
      html('div', 'why', bad, partial.legal
        ? 'must take effect before it returns, but although it is a legal step from ' + data.states[prev] +
          ', no order of the operations still pending continues from here.'
        : 'must take effect before it returns, but it is not a legal step from state ' + data.states[prev] + '.');
      bad.addEventListener('click', function () { reveal(view, b, true); });
      // The violation is at the end of the list: show it.
      var aside = document.getElementById('panel');
      aside.scrollTop = aside.scrollHeight;
    }
  }

  // Linearization points: each inside its operation's box and no earlier
  // than the previous one (the search guarantees such points exist).
  function drawLinearization(view, seq, partial) {
    var o = view.overlay, prevX = -1e9, pts = [];
    function place(k) {
      var b = view.boxes[k];
      var lo = b.x + 2, hi = Math.max(lo, b.x + b.w - 2);
      var x = Math.min(Math.max(prevX + 4, lo), hi);
      prevX = x;
      return { x: x, y: b.y };
    }
    seq.forEach(function (step) {
      view.boxes[step.op].g.classList.add('lin');
      pts.push(place(step.op));
    });
    var bpt = null;
    if (partial.blocked >= 0) {
      view.boxes[partial.blocked].g.classList.add('blocked');
      bpt = place(partial.blocked);
    }
    var all = bpt ? pts.concat([bpt]) : pts;
    if (all.length > 1) {
      svg('polyline', { 'class': 'lp-path', points: all.map(function (q) { return q.x + ',' + (q.y + BOX_H / 2); }).join(' ') }, o);
    }
    function mark(q, label, bad) {
      var c = bad ? ' bad' : '';
      svg('line', { 'class': 'lp' + c, x1: q.x, y1: q.y - 4, x2: q.x, y2: q.y + BOX_H + 4 }, o);
      svg('circle', { 'class': 'lp-dot' + c, cx: q.x, cy: q.y + BOX_H / 2, r: 3.5 }, o);
      var t = svg('text', { 'class': 'lp-num' + c, x: q.x + 3, y: q.y - 3 }, o);
      t.textContent = label;
    }
    pts.forEach(function (q, i) { mark(q, String(i + 1), false); });
    if (bpt) mark(bpt, '✗ Invalid LP', true);
  }

  // Brings operation k into view: its partition's strip scrolls sideways
  // to centre it, and the page scrolls only if `page` is set.
  function reveal(view, k, page) {
    var b = view.boxes[k];
    b.g.classList.add('flash');
    setTimeout(function () { b.g.classList.remove('flash'); }, 900);
    view.scroll.scrollLeft = Math.max(0, b.x + b.w / 2 - view.scroll.clientWidth / 2);
    if (page) view.details.scrollIntoView({ block: 'nearest' });
  }

  function openPartition(i, scroll) {
    var v = views[i];
    v.details.open = true;
    draw(v);
    if (scroll) v.details.scrollIntoView({ block: 'start' });
    return v;
  }

  // ---- jump to first error -----------------------------------------------------
  var jump = document.getElementById('jump-first-error');
  if (data.first_error) {
    jump.addEventListener('click', function (ev) {
      ev.preventDefault();
      var v = openPartition(data.first_error[0], false);
      select(v, data.first_error[1], true);
      reveal(v, data.first_error[1], true);
    });
  } else {
    jump.classList.add('disabled');
    jump.title = 'no partition is illegal';
  }
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && pinned) { pinned = null; clearSelection(); }
  });
  views.forEach(function (v) { if (v.details.open) draw(v); });
  // Open on the error when there is one (also what a screenshot shows).
  if (data.first_error) {
    var v0 = views[data.first_error[0]];
    select(v0, data.first_error[1], true);
    reveal(v0, data.first_error[1], false);
  }
})();
