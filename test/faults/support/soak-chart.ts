/** One line of a panel: its name, colour and a value per sample (null where the sample had none). */
export interface Series {
  name: string;
  colour: string;
  values: Array<number | null>;
}

/** One chart panel: a title, the unit shown on its axis, and its lines. */
export interface Panel {
  title: string;
  unit: string;
  series: Series[];
}

const WIDTH = 960;
const PANEL_HEIGHT = 190;
const MARGIN = { left: 70, right: 170, top: 28, bottom: 30 };
const TITLE_HEIGHT = 44;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round step for about four grid lines up to `max`. */
function step(max: number): number {
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
}

const label = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/**
 * The soak's samples as a stand-alone SVG: one panel per measure, time in minutes across, each line a polyline.
 * `marks` (minutes) are drawn as dashed verticals: the soak marks the windows it compares. Written by hand (no chart
 * library): the chart must open in any browser or on GitHub with nothing else.
 */
export function soakChart(title: string, minutes: number[], panels: Panel[], marks: number[] = []): string {
  const height = TITLE_HEIGHT + panels.length * PANEL_HEIGHT;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const xMax = Math.max(1e-9, ...minutes);
  const xStep = step(xMax);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="26" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  panels.forEach((panel, p) => {
    const top = TITLE_HEIGHT + p * PANEL_HEIGHT;
    const x0 = MARGIN.left;
    const y0 = top + MARGIN.top;
    const values = panel.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
    const yStep = step(Math.max(1, ...values) * 1.1);
    const yMax = yStep * Math.ceil((Math.max(1, ...values) * 1.1) / yStep);
    const x = (m: number) => x0 + (m / xMax) * plotWidth;
    const y = (v: number) => y0 + plotHeight - (v / yMax) * plotHeight;
    parts.push(`<text x="${x0}" y="${top + 18}" font-size="12" font-weight="bold">${escape(panel.title)}</text>`);
    for (let v = 0; v <= yMax + 1e-9; v += yStep) {
      parts.push(`<line x1="${x0}" y1="${y(v)}" x2="${x0 + plotWidth}" y2="${y(v)}" stroke="#e4e4e4"/>`);
      parts.push(`<text x="${x0 - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${label(v)}</text>`);
    }
    for (let m = 0; m <= xMax + 1e-9; m += xStep) {
      parts.push(`<line x1="${x(m)}" y1="${y0}" x2="${x(m)}" y2="${y0 + plotHeight}" stroke="#f0f0f0"/>`);
      parts.push(`<text x="${x(m)}" y="${y0 + plotHeight + 14}" text-anchor="middle" fill="#555">${label(m)} min</text>`);
    }
    parts.push(
      `<text x="${14}" y="${y0 + plotHeight / 2}" transform="rotate(-90 14 ${y0 + plotHeight / 2})" text-anchor="middle" fill="#555">${escape(panel.unit)}</text>`,
    );
    for (const m of marks) {
      parts.push(`<line x1="${x(m)}" y1="${y0}" x2="${x(m)}" y2="${y0 + plotHeight}" stroke="#2ca02c" stroke-dasharray="4 3"/>`);
    }
    parts.push(`<rect x="${x0}" y="${y0}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`);
    panel.series.forEach((s, i) => {
      const points = s.values
        .map((v, k) => (v === null ? null : `${x(minutes[k]).toFixed(1)},${y(v).toFixed(1)}`))
        .filter((pt): pt is string => pt !== null);
      parts.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="1.6" points="${points.join(' ')}"/>`);
      const ly = y0 + 10 + i * 16;
      parts.push(
        `<line x1="${x0 + plotWidth + 12}" y1="${ly}" x2="${x0 + plotWidth + 30}" y2="${ly}" stroke="${s.colour}" stroke-width="3"/>`,
      );
      parts.push(`<text x="${x0 + plotWidth + 36}" y="${ly + 4}">${escape(s.name)}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
