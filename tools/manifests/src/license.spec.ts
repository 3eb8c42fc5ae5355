import { describe, expect, it } from 'vitest';
import { listWorkspaces, readRepoFile } from './parse.js';

const LICENSE_TITLES: Record<string, string> = { MIT: 'MIT License' };

describe('license', () => {
  const root = JSON.parse(readRepoFile('package.json')) as { license?: string };

  it('LICENSE holds the license package.json names, with a copyright line', () => {
    expect(root.license).toBe('MIT');
    const text = readRepoFile('LICENSE');
    expect(text.split('\n')[0]).toBe(LICENSE_TITLES[root.license!]);
    expect(text).toMatch(/^Copyright \(c\) \d{4} \S/m);
    expect(text).toContain('Permission is hereby granted, free of charge');
  });

  it('the lockfile and every workspace agree (npm ci reads the lockfile)', () => {
    const lock = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, { license?: string }> };
    expect(lock.packages['']?.license).toBe(root.license);
    for (const w of listWorkspaces()) {
      const pkg = JSON.parse(readRepoFile(`${w.dir}/package.json`)) as { license?: string };
      expect(pkg.license ?? root.license, w.dir).toBe(root.license);
      expect(lock.packages[w.dir]?.license, w.dir).toBe(pkg.license);
    }
  });
});
