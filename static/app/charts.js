// The dashboard's charts, drawn as SVG: a line chart, vertical bars (a histogram or a daily
// series) and the small horizontal bar of a ranked table. Every mark carries its exact value in
// data attributes and a <title>, and each chart comes with a table of the same numbers for
// screen readers.

import { h, number } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDE = 640;
const NARROW = 320;
const PAD = { top: 12, right: 12, bottom: 28, left: 40 };

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// A round top for the y axis: 1, 2 or 5 times a power of ten, at least `max`.
function niceMax(max) {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= max);
}

function frame(width, height, top, labels) {
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const plotH = height - PAD.top - PAD.bottom;
  for (const fraction of [0, 0.5, 1]) {
    const y = PAD.top + plotH * (1 - fraction);
    svg.append(s("line", { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y, class: "grid" }));
    svg.append(s("text", { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, number(top * fraction)));
  }
  return { svg, plotH, plotW: width - PAD.left - PAD.right, labels };
}

function dataTable(caption, labels, series) {
  return h("table", { class: "sr-only" }, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), series.map((one) => h("th", { scope: "col" }, one.name)))),
    h("tbody", {}, labels.map((label, i) => h("tr", {}, h("th", { scope: "row" }, label),
      series.map((one) => h("td", {}, number(one.values[i])))))));
}

// One line per series over shared x labels (dates); a point per value.
export function lineChart(caption, labels, series, { height = 220 } = {}) {
  const top = niceMax(Math.max(0, ...series.flatMap((one) => one.values)));
  const { svg, plotH, plotW } = frame(WIDE, height, top, labels);
  svg.setAttribute("aria-label", caption);
  const x = (i) => PAD.left + (labels.length === 1 ? plotW / 2 : (plotW * i) / (labels.length - 1));
  const y = (v) => PAD.top + plotH * (1 - v / top);
  // The first series is drawn last, so it stays on top where two lines meet.
  series.map((one, index) => [one, index]).reverse().forEach(([one, index]) => {
    const path = one.values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const group = s("g", { class: `series series-${index}`, "data-series": one.key });
    group.append(s("path", { d: path, class: "line" }));
    one.values.forEach((v, i) => {
      group.append(s("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: labels.length > 45 ? 2 : 3,
        class: "point", "data-date": labels[i], "data-value": v }, s("title", {}, `${labels[i]}: ${number(v)} ${one.name.toLowerCase()}`)));
    });
    svg.append(group);
  });
  const ticks = labels.length > 1 ? [0, Math.floor((labels.length - 1) / 2), labels.length - 1] : [0];
  for (const i of ticks) {
    svg.append(s("text", { x: x(i), y: height - 8, class: "axis", "text-anchor": i === 0 ? "start" : i === labels.length - 1 ? "end" : "middle" }, labels[i]));
  }
  const legend = h("ul", { class: "legend" }, series.map((one, index) => h("li", { class: `series-${index}` }, one.name)));
  return h("figure", { class: "figure" }, svg, legend, dataTable(caption, labels, series));
}

// Vertical bars: a histogram of buckets, or one bar per day.
export function barChart(caption, labels, values, { height = 200, name = "count", everyLabel = true } = {}) {
  const top = niceMax(Math.max(0, ...values));
  const { svg, plotH, plotW } = frame(NARROW, height, top, labels);
  svg.setAttribute("aria-label", caption);
  const slot = plotW / Math.max(values.length, 1);
  const width = Math.max(1, slot * 0.7);
  values.forEach((v, i) => {
    const barH = (plotH * v) / top;
    const x = PAD.left + slot * i + (slot - width) / 2;
    svg.append(s("rect", { x: x.toFixed(1), y: (PAD.top + plotH - barH).toFixed(1), width: width.toFixed(1),
      height: barH.toFixed(1), class: "bar", "data-label": labels[i], "data-value": v },
      s("title", {}, `${labels[i]}: ${number(v)}`)));
    if (everyLabel) {
      svg.append(s("text", { x: (x + width / 2).toFixed(1), y: height - 8, class: "axis", "text-anchor": "middle" }, labels[i]));
      if (v > 0) svg.append(s("text", { x: (x + width / 2).toFixed(1), y: (PAD.top + plotH - barH - 4).toFixed(1), class: "value", "text-anchor": "middle" }, number(v)));
    }
  });
  if (!everyLabel && labels.length) {
    svg.append(s("text", { x: PAD.left, y: height - 8, class: "axis", "text-anchor": "start" }, labels[0]));
    svg.append(s("text", { x: NARROW - PAD.right, y: height - 8, class: "axis", "text-anchor": "end" }, labels[labels.length - 1]));
  }
  return h("figure", { class: "figure" }, svg, dataTable(caption, labels, [{ name, values }]));
}

// The bar inside a ranked table's row: its length is the value's share of the largest.
export function rankBar(value, max) {
  const fraction = max > 0 ? value / max : 0;
  return s("svg", { viewBox: "0 0 100 8", class: "rank-bar", preserveAspectRatio: "none", "aria-hidden": "true" },
    s("rect", { x: 0, y: 0, width: (100 * fraction).toFixed(2), height: 8 }));
}
