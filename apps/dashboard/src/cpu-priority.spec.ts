import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { describe, expect, it } from 'vitest';

// In a process of its own: a priority once lowered cannot be raised again without privileges.
function inChild(calls: number[]): { from: number; to: number }[] {
  const script = `import { lowerCpuPriority } from ${JSON.stringify(new URL('./cpu-priority.ts', import.meta.url).pathname)};
    console.log(JSON.stringify(${JSON.stringify(calls)}.map((n) => lowerCpuPriority(n))));`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim()) as { from: number; to: number }[];
}

describe('lowerCpuPriority', () => {
  it('lowers the priority to the nice value asked for, and never raises it again', () => {
    // The child starts at this process's priority (0 unless the suite itself runs niced).
    const base = os.getPriority();
    const [first, second, third] = inChild([10, 5, 15]);
    expect(first).toEqual({ from: base, to: Math.max(base, 10) });
    expect(second).toEqual({ from: Math.max(base, 10), to: Math.max(base, 10) });
    expect(third).toEqual({ from: Math.max(base, 10), to: Math.max(base, 15) });
  });

  it('leaves the priority alone at 0', () => {
    const base = os.getPriority();
    expect(inChild([0])).toEqual([{ from: base, to: base }]);
  });
});
