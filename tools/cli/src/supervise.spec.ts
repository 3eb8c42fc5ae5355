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
      // Stopped once it is up (its drain handler in place), however slowly it starts on a busy machine.
      [{ name: 'steady', entry: steady, checked: async () => /steady +\| up/.test(out.text()) }, { name: 'crashing', entry: crashing }],
      { cwd: REPO_ROOT, stdout: out.stream, stderr: err.stream, signals: new EventEmitter() },
    );
    expect(code).toBe(1);
    expect(err.text()).toContain('crashing | boom');
    expect(err.text()).toContain('crashing exited unexpectedly (code 3); stopping steady');
    expect(out.text()).toContain('steady   | draining');
  });

  it('lets every child finish its configuration check before stopping it, so every problem is shown', async () => {
    const release = join(dir, 'second-may-report');
    const first = script('bad-config-first', `console.error('Invalid configuration for first: A'); process.exit(1);`);
    // Reports its problem only once the test releases it, after the supervisor has seen the first fail:
    // stopped at that moment, as before, it would never report.
    const second = script(
      'bad-config-second',
      `import { existsSync } from 'node:fs';
       process.on('SIGTERM', () => { console.log('stopped before reporting'); process.exit(0); });
       setInterval(() => {
         if (!existsSync(${JSON.stringify(release)})) return;
         console.error('Invalid configuration for second: B');
         process.exit(1);
       }, 20);`,
    );
    const out = collector();
    const err = collector();
    const done = supervise(
      [
        { name: 'first', entry: first },
        { name: 'second', entry: second, checked: async () => false },
        // Past its checks once it says "up" (as a service once its health server answers): then stopped.
        { name: 'steady', entry: steady, checked: async () => out.text().includes('steady | up') },
      ],
      { cwd: REPO_ROOT, stdout: out.stream, stderr: err.stream, signals: new EventEmitter() },
    );
    await until(() => err.text().includes('first exited unexpectedly'), 'the first failure noticed');
    await until(() => out.text().includes('steady | draining'), 'the checked child stopped');
    writeFileSync(release, '');
    expect(await done).toBe(1);
    expect(err.text()).toContain('first  | Invalid configuration for first: A');
    expect(err.text()).toContain('second | Invalid configuration for second: B');
    expect(out.text()).not.toContain('stopped before reporting');
    expect(err.text()).toContain('first exited unexpectedly (code 1); stopping second, steady once each has checked its configuration');
    expect(err.text()).toContain('second exited with code 1');
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

  it('starts a process once the one before it is ready, and stops it, and waits for it, before that one', async () => {
    const log = collector();
    const signals = new EventEmitter();
    const isUp = (name: string) => async () => new RegExp(`^${name} *\\| up$`, 'm').test(log.text());
    const done = supervise(
      [
        { name: 'feed', entry: steady, ready: isUp('feed') },
        { name: 'store', entry: steady, ready: isUp('store') },
        { name: 'app', entry: steady },
        { name: 'ui', entry: steady },
      ],
      { cwd: REPO_ROOT, stdout: log.stream, stderr: log.stream, signals },
    );
    await until(() => log.text().includes('app   | up') && log.text().includes('ui    | up'), 'the last two up');
    signals.emit('SIGINT');
    // Relayed copies of one Ctrl-C (npm, tsx) must not stop the dependencies early.
    signals.emit('SIGINT');
    expect(await done, log.text()).toBe(0);
    const at = (line: string) => {
      const index = log.text().indexOf(line);
      expect(index, `"${line}" in\n${log.text()}`).toBeGreaterThanOrEqual(0);
      return index;
    };
    expect(at('feed is ready; starting store')).toBeGreaterThan(at('feed  | up'));
    expect(at('store | up')).toBeGreaterThan(at('feed is ready; starting store'));
    expect(at('store is ready; starting app, ui')).toBeGreaterThan(at('store | up'));
    expect(at('app   | up')).toBeGreaterThan(at('store is ready; starting app, ui'));
    expect(at('SIGINT: stopping feed, store, app, ui, dependencies last')).toBeGreaterThan(0);
    // Down in reverse: app and ui gone before store is told, store gone before feed is told.
    expect(at('store | draining')).toBeGreaterThan(Math.max(at('app   | bye'), at('ui    | bye')));
    expect(at('feed  | draining')).toBeGreaterThan(at('store | bye'));
  });

  it('starts nothing after a dependency that exits before it is ready, or when stopped while waiting', async () => {
    const log = collector();
    const crashed = await supervise(
      [{ name: 'feed', entry: crashing, ready: async () => false }, { name: 'app', entry: steady }],
      { cwd: REPO_ROOT, stdout: log.stream, stderr: log.stream, signals: new EventEmitter() },
    );
    expect(crashed).toBe(1);
    expect(log.text()).toContain('feed exited unexpectedly (code 3); stopping nothing else');
    expect(log.text()).not.toContain('app |');

    const waiting = collector();
    const signals = new EventEmitter();
    const done = supervise(
      [{ name: 'feed', entry: steady, ready: async () => false }, { name: 'app', entry: steady }],
      { cwd: REPO_ROOT, stdout: waiting.stream, stderr: waiting.stream, signals },
    );
    await until(() => waiting.text().includes('feed | up'), 'the dependency up');
    signals.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(waiting.text()).not.toContain('app  |');
  });
});
