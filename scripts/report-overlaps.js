// Injected into a copy of the demo report by scripts/report-check.sh and run by
// headless Chromium (--dump-dom): for every chart (svg.plot) it takes each
// label's box as laid out (getBBox, mapped to the screen with its transform,
// so slanted tick labels are tested as the slanted boxes they are) and lists
// labels that overlap another label (separating-axis test on the two boxes) or
// leave the chart.
"use strict";
(() => {
  const out = [];
  const corners = t => {
    const b = t.getBBox(), m = t.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
      .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  // two convex quads overlap by more than 1 px unless some edge normal separates them
  const overlap = (P, Q) => {
    for (const S of [P, Q])
      for (let i = 0; i < 4; i++) {
        const [x1, y1] = S[i], [x2, y2] = S[(i + 1) % 4], nx = y1 - y2, ny = x2 - x1, len = Math.hypot(nx, ny) || 1;
        const proj = R => R.map(([x, y]) => (x * nx + y * ny) / len);
        const a = proj(P), b = proj(Q);
        if (Math.min(Math.max(...a), Math.max(...b)) - Math.max(Math.min(...a), Math.min(...b)) <= 1) return false;
      }
    return true;
  };
  document.querySelectorAll("svg.plot").forEach((svg, k) => {
    const sb = svg.getBoundingClientRect();
    const ts = [...svg.querySelectorAll("text")].filter(t => t.textContent.trim());
    const C = ts.map(corners);
    const name = ((svg.closest("figure") && svg.closest("figure").querySelector("figcaption")) || {}).textContent || "";
    const where = `chart ${k} (${name.slice(0, 40)})`;
    for (let i = 0; i < ts.length; i++) {
      if (C[i].some(([x, y]) => x < sb.left - 1 || x > sb.right + 1 || y < sb.top - 1 || y > sb.bottom + 1))
        out.push(`${where}: "${ts[i].textContent}" leaves the chart`);
      for (let j = i + 1; j < ts.length; j++)
        if (overlap(C[i], C[j])) out.push(`${where}: "${ts[i].textContent}" overlaps "${ts[j].textContent}"`);
    }
  });
  const p = document.createElement("pre");
  p.id = "overlaps";
  p.textContent = `CHARTS ${document.querySelectorAll("svg.plot").length} OVERLAPS ${out.length}\n` + out.join("\n");
  document.body.appendChild(p);
})();
