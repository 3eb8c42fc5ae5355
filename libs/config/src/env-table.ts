import { ENV } from './env.js';

/** The README's configuration table, rendered from the registry (a test keeps them equal). */
export function renderEnvTable(): string {
  const rows = Object.entries(ENV).map(([name, spec]) => {
    const s = spec as { default?: string; optional?: true; doc: string; usedBy: string; secret?: string };
    const fallback = s.default === undefined ? (s.optional ? '(per service)' : '(required)') : s.default === '' ? '(empty)' : `\`${s.default}\``;
    const doc = s.secret ? `${s.doc} Secret: shown masked.` : s.doc;
    return `| \`${name}\` | ${fallback} | ${s.usedBy} | ${doc.replace(/\|/g, '\\|')} |`;
  });
  return ['| Variable | Default | Read by | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
