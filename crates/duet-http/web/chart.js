// Charts drawn by the page as plain SVG: grouped bars per interval.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// `groups`: [{label, values: [n, ...]}]; `series`: [{name, cls}] naming
// each value. Answers an <svg> with a title, a legend and one bar per value.
export function bars(title, groups, series, { width = 640, height = 200 } = {}) {
  const pad = { left: 36, bottom: 34, top: 10, right: 10 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = Math.max(1, ...groups.flatMap((g) => g.values));
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart', width: '100%' });
  root.append(svg('title', {}, title));
  root.append(svg('line', { x1: pad.left, y1: pad.top + plotH, x2: width - pad.right, y2: pad.top + plotH, class: 'axis' }));
  root.append(svg('text', { x: pad.left - 4, y: pad.top + 8, 'text-anchor': 'end', class: 'label' }, String(max)));
  root.append(svg('text', { x: pad.left - 4, y: pad.top + plotH, 'text-anchor': 'end', class: 'label' }, '0'));
  const groupW = plotW / Math.max(1, groups.length);
  const barW = Math.min(40, Math.max(2, (groupW * 0.8) / series.length));
  groups.forEach((g, i) => {
    const x0 = pad.left + i * groupW + (groupW - barW * series.length) / 2;
    g.values.forEach((v, j) => {
      const barH = (v / max) * plotH;
      const bar = svg('rect', { x: x0 + j * barW, y: pad.top + plotH - barH, width: barW - 1, height: barH, class: series[j].cls });
      bar.append(svg('title', {}, `${g.label}: ${series[j].name} ${v}`));
      root.append(bar);
    });
    if (groups.length <= 16 || i % Math.ceil(groups.length / 16) === 0) {
      root.append(svg('text', { x: pad.left + i * groupW + groupW / 2, y: height - 20, 'text-anchor': 'middle', class: 'label' }, g.label));
    }
  });
  series.forEach((s, j) => {
    root.append(svg('rect', { x: pad.left + j * 110, y: height - 12, width: 10, height: 10, class: s.cls }));
    root.append(svg('text', { x: pad.left + j * 110 + 14, y: height - 3, class: 'label' }, s.name));
  });
  return root;
}
