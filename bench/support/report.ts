import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { MachineDescription } from './machine';

/** One measured figure. `value` is null when the path could not be measured in this build (see `note`). */
export interface Figure {
  key: string;
  group: 'raw' | 'gateway' | 'naive';
  label: string;
  value: number | null;
  unit: string;
  note?: string;
}

export interface TargetCheck {
  label: string;
  /** e.g. "ingest / raw INSERT" */
  measured: number | null;
  target: number;
  /** ratio and rate: measured ≥ target; maxMs: a latency, maxSeconds: a duration, maxMiB: memory, measured ≤ target. */
  kind: 'ratio' | 'rate' | 'maxMs' | 'maxSeconds' | 'maxMiB';
  pass: boolean | null;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  sizes: Record<string, number>;
  machine: MachineDescription;
  sharedMachineNote: string;
  figures: Figure[];
  targets: TargetCheck[];
  totalSeconds: number;
}

const fmt = (v: number | null, unit = '') => {
  if (v === null) return 'n/a';
  // Ratios far below 1 keep a third decimal, so a miss by two orders of magnitude does not print as 0.00.
  const digits = unit === '×' && v !== 0 && Math.abs(v) < 0.1 ? 3 : unit === 'ms' || unit === '×' || Math.abs(v) < 10 ? 2 : 0;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
};
const ratioText = (t: TargetCheck) =>
  t.kind === 'ratio'
    ? `${fmt(t.measured, '×')}×`
    : t.kind === 'maxMs'
      ? `${fmt(t.measured, 'ms')} ms`
      : t.kind === 'maxSeconds'
        ? `${fmt(t.measured, 'ms')} s`
        : t.kind === 'maxMiB'
          ? `${fmt(t.measured)} MiB`
          : `${fmt(t.measured)} /s`;
const targetText = (t: TargetCheck) =>
  t.kind === 'ratio'
    ? `≥ ${t.target}×`
    : t.kind === 'maxMs'
      ? `≤ ${fmt(t.target)} ms`
      : t.kind === 'maxSeconds'
        ? `≤ ${fmt(t.target)} s`
        : t.kind === 'maxMiB'
          ? `< ${fmt(t.target)} MiB`
          : `≥ ${fmt(t.target)} /s`;
const verdict = (t: TargetCheck) => (t.pass === null ? 'not measured' : t.pass ? 'met' : 'MISSED');

export function printTable(report: BenchReport): void {
  const rows = report.figures.map((f) => [f.group, f.label, fmt(f.value, f.unit), f.unit, f.note ?? '']);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), 6));
  const line = (r: string[]) =>
    `${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padStart(widths[2])}  ${r[3].padEnd(widths[3])}  ${r[4]}`;
  console.log(`\n${line(['group', 'figure', 'value', 'unit', 'note'])}\n${'-'.repeat(widths.reduce((a, b) => a + b + 2, 20))}`);
  for (const r of rows) console.log(line(r));
  console.log('\ntargets:');
  for (const t of report.targets)
    console.log(`  ${t.label.padEnd(44)} ${ratioText(t).padStart(14)}  target ${targetText(t).padEnd(14)} ${verdict(t)}`);
  console.log(`\n(${report.quick ? 'quick run, a tenth of every size' : 'full run'}; ${report.totalSeconds.toFixed(0)} s)`);
}

export function writeJson(report: BenchReport, resultsDir: string): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

export const GENERATED_BEGIN = '<!-- bench:generated:begin (written by npm run bench; edit outside these markers) -->';
export const GENERATED_END = '<!-- bench:generated:end -->';

/** The generated part of docs/BENCHMARKS.md: machine, figures, ratios and targets of this run. */
export function markdownSection(report: BenchReport, jsonFile: string): string {
  const m = report.machine;
  const figureRows = report.figures.map((f) => `| ${f.group} | ${f.label} | ${fmt(f.value, f.unit)} | ${f.unit} | ${f.note ?? ''} |`);
  const targetRows = report.targets.map((t) => `| ${t.label} | ${ratioText(t)} | ${targetText(t)} | ${verdict(t)} |`);
  return [
    GENERATED_BEGIN,
    `## Latest run`,
    '',
    `${report.quick ? '**Quick run** (`--quick`: a tenth of every size)' : '**Full run**'}, started ${report.startedAt}, ` +
      `${report.totalSeconds.toFixed(0)} s in all; figures in \`${jsonFile}\`.`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}; MariaDB ${m.mariadb} ` +
      `(buffer pool ${m.innodbBufferPoolMiB} MiB, innodb_flush_log_at_trx_commit=${m.innodbFlushLogAtTrxCommit}); Redis ${m.redis}. ` +
      `Load average at start: ${m.loadAverageAtStart.join(' / ')}. ${report.sharedMachineNote}`,
    '',
    `Sizes: ${Object.entries(report.sizes)
      .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
      .join(', ')}.`,
    '',
    '| group | figure | value | unit | note |',
    '|---|---|---:|---|---|',
    ...figureRows,
    '',
    '| target | measured | target | verdict |',
    '|---|---:|---|---|',
    ...targetRows,
    GENERATED_END,
  ].join('\n');
}

/** Replaces the generated section of the document (creating the document from `template` when it does not exist). */
export function writeMarkdown(file: string, section: string, template: string): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : template;
  const begin = current.indexOf(GENERATED_BEGIN);
  const end = current.indexOf(GENERATED_END);
  const next =
    begin >= 0 && end > begin
      ? current.slice(0, begin) + section + current.slice(end + GENERATED_END.length)
      : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
}
