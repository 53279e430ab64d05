/** docs/BENCHMARKS.md as first written when it does not exist; later runs replace only the generated section. */
export const DOC_TEMPLATE = `# Benchmarks

Run \`npm run build && npm run bench\` (add \`-- --quick\` for a tenth of every size).

<!-- bench:generated:begin (written by npm run bench; edit outside these markers) -->
<!-- bench:generated:end -->
`;
