import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './commands/services.js';
import { supervise } from './supervise.js';

const dir = mkdtempSync(join(tmpdir(), 'tv-supervise-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const path = join(dir, `${name}.mjs`);
  writeFileSync(path, body);
  return path;
}

// Behaves like a service: drains on SIGTERM or SIGINT and exits 0. It says "up" only once its handler is in place.
const steady = script(
  'steady',
  `const keepAlive = setInterval(() => {}, 1000);
   const drain = () => { console.log('draining'); setTimeout(() => { console.error('bye'); clearInterval(keepAlive); }, 100); };
   process.once('SIGTERM', drain);
   process.once('SIGINT', drain);
   console.log('up');`,
);
const crashing = script('crashing', `setTimeout(() => { console.error('boom'); process.exit(3); }, 300);`);

function collector() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('supervise', () => {
  it('prefixes output, forwards a signal to every child and exits 0 when all stop cleanly', async () => {
    const out = collector();
    const err = collector();
    const signals = new EventEmitter();
    const done = supervise(
      [{ name: 'alpha', entry: steady }, { name: 'beta-long', entry: steady }],
      { cwd: REPO_ROOT, stdout: out.stream, stderr: err.stream, signals },
    );
    await until(() => (out.text().match(/\| up/g) ?? []).length === 2, 'both children up');
    signals.emit('SIGINT');
    expect(await done, err.text()).toBe(0);
    expect(out.text()).toContain('alpha     | up\n');
    expect(out.text()).toContain('beta-long | draining\n');
    expect(err.text()).toContain('alpha     | bye\n');
    expect(err.text()).toContain('SIGINT: stopping alpha, beta-long');
    expect(signals.listenerCount('SIGINT')).toBe(0);
  });

  it('stops the others and exits 1 when one child exits on its own', async () => {
    const out = collector();
    const err = collector();
    const code = await supervise(
      [{ name: 'steady', entry: steady }, { name: 'crashing', entry: crashing }],
      { cwd: REPO_ROOT, stdout: out.stream, stderr: err.stream, signals: new EventEmitter() },
    );
    expect(code).toBe(1);
    expect(err.text()).toContain('crashing | boom');
    expect(err.text()).toContain('crashing exited unexpectedly (code 3); stopping steady');
    expect(out.text()).toContain('steady   | draining');
  });

  it('kills the children on a later second signal and exits 1', async () => {
    const stubborn = script('stubborn', `process.on('SIGTERM', () => console.log('ignoring')); setInterval(() => {}, 1000); console.log('up');`);
    const out = collector();
    const err = collector();
    const signals = new EventEmitter();
    const done = supervise([{ name: 'stubborn', entry: stubborn }], { cwd: REPO_ROOT, stdout: out.stream, stderr: err.stream, signals });
    await until(() => out.text().includes('| up'), 'child up');
    signals.emit('SIGTERM');
    await until(() => out.text().includes('ignoring'), 'child saw SIGTERM');
    // A repeat right away is the same signal relayed by a wrapper (npm, tsx), not a request to force.
    signals.emit('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(err.text()).not.toContain('killing');
    await new Promise((r) => setTimeout(r, 900));
    signals.emit('SIGTERM');
    expect(await done).toBe(1);
    expect(err.text()).toContain('SIGTERM again: killing stubborn');
    expect(err.text()).toContain('stubborn exited with signal SIGKILL');
  });
});
