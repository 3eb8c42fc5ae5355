import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { boundedInFlight, clampBoardPaging, removeForeignStylesheets } from './queue-board.js';

async function serve(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('clampBoardPaging', () => {
  it('caps jobsPerPage (shared among the statuses in the latest view) and page before the handler reads them', async () => {
    const app = express();
    app.use(clampBoardPaging(100, 7));
    app.get('/api/queues', (req, res) => void res.json(req.query));
    const server = await serve(app);
    const query = async (q: string) => (await (await fetch(`${server.url}/api/queues?${q}`)).json()) as Record<string, unknown>;
    try {
      expect(await query('activeQueue=ticks&status=failed&jobsPerPage=10000000')).toEqual({ activeQueue: 'ticks', status: 'failed', jobsPerPage: '100' });
      expect(await query('status=failed&jobsPerPage=Infinity&page=1e300')).toEqual({ status: 'failed', jobsPerPage: '100', page: '1000000' });
      expect(await query('jobsPerPage=10000000')).toEqual({ jobsPerPage: '14' });
      expect(await query('status=latest&jobsPerPage=50')).toEqual({ status: 'latest', jobsPerPage: '14' });
      // Within bounds, and what Bull Board rejects itself, pass unchanged.
      expect(await query('status=waiting&jobsPerPage=25&page=3')).toEqual({ status: 'waiting', jobsPerPage: '25', page: '3' });
      expect(await query('status=waiting&jobsPerPage=abc')).toEqual({ status: 'waiting', jobsPerPage: 'abc' });
      expect(await query('activeQueue=x')).toEqual({ activeQueue: 'x' });
    } finally {
      await server.close();
    }
  });
});

describe('boundedInFlight', () => {
  it('answers 503 with Retry-After past the bound, and admits again once a call finished', async () => {
    const releases: (() => void)[] = [];
    let busy = 0;
    const app = express();
    app.use(boundedInFlight(2, () => busy++));
    app.get('/slow', (_req, res) => void releases.push(() => res.json({ ok: true })));
    app.get('/fast', (_req, res) => void res.json({ ok: true }));
    const server = await serve(app);
    try {
      const first = fetch(`${server.url}/slow`);
      const second = fetch(`${server.url}/slow`);
      while (releases.length < 2) await new Promise((r) => setTimeout(r, 10));
      const refused = await fetch(`${server.url}/fast`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(busy).toBe(1);
      releases.shift()!();
      expect((await first).status).toBe(200);
      // The finished call's slot is free again once its connection reports close.
      let status = 503;
      while (status === 503) status = (await fetch(`${server.url}/fast`)).status;
      expect(status).toBe(200);
      releases.shift()!();
      expect((await second).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('removeForeignStylesheets', () => {
  it("takes Bull Board's web-font stylesheet out of its page and leaves its own assets", () => {
    // The template of the installed Bull Board: a version that moves the link still gets checked.
    const ui = dirname(createRequire(import.meta.url).resolve('@bull-board/ui/package.json'));
    const template = readFileSync(join(ui, 'dist', 'index.ejs'), 'utf8');
    expect(template).toContain('https://fonts.googleapis.com');
    const page = removeForeignStylesheets(template);
    expect(page).not.toMatch(/https?:\/\//);
    expect(page).toContain('<link href="static/css/');
    expect(page).toContain('<script defer src="static/js/');
  });

  it('keeps links that are not stylesheets', () => {
    const html = '<link rel="alternate" href="https://example.com/feed"><link rel="stylesheet" href="https://cdn.example/x.css">';
    expect(removeForeignStylesheets(html)).toBe('<link rel="alternate" href="https://example.com/feed">');
  });
});
