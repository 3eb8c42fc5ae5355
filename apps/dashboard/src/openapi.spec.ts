import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Router } from 'express';
import { createLogger } from '@tickvault/runtime';
import { createApiRouter, type ApiDeps } from './api.js';
import { createDashboardApp } from './app.js';
import { LiveHub } from './live-hub.js';

interface Operation {
  parameters: { name: string; in: string; required: boolean }[];
  responses: Record<string, unknown>;
}
type OpenApi = { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> };

// Every request below is refused by parameter checks or answered without Postgres or Redis: nothing
// behind these stand-ins is ever called (a call would fail the request with a 500).
const deps: ApiDeps = {
  reads: {} as ApiDeps['reads'],
  queues: [],
  latest: {} as ApiDeps['latest'],
  hub: new LiveHub({ maxClients: 1, maxQueuedEvents: 1, stallTimeoutMs: 1000 }),
  configuredSeries: [],
  readServices: () => Promise.reject(new Error('not in this test')),
  logger: createLogger({ service: 'openapi-spec', level: 'silent', format: 'json' }),
};

/** The router's own routes: path and methods, from express' route table. */
function routerRoutes(router: Router): { path: string; methods: string[] }[] {
  const stack = (router as unknown as { stack: { route?: { path: string; methods: Record<string, boolean> } }[] }).stack;
  return stack.flatMap((layer) => (layer.route ? [{ path: layer.route.path, methods: Object.keys(layer.route.methods).filter((m) => layer.route!.methods[m]) }] : []));
}

describe('OpenAPI description of the read API', () => {
  let server: Server;
  let base: string;
  const auth = { authorization: `Basic ${Buffer.from('admin:pw-openapi').toString('base64')}` };
  beforeAll(async () => {
    const app = createDashboardApp({ ...deps, auth: { mode: 'basic', user: 'admin', password: 'pw-openapi' }, queueActions: false });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  async function document(): Promise<OpenApi> {
    const res = await fetch(`${base}/api/openapi.json`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    return JSON.parse(await res.text()) as OpenApi;
  }

  it('is served at /api/openapi.json behind the same authentication as the rest', async () => {
    expect((await fetch(`${base}/api/openapi.json`)).status).toBe(401);
    expect((await fetch(`${base}/api/openapi.json`, { headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` } })).status).toBe(401);
    const doc = await document();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toContain('tickvault');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('describes every route and method of the router, and nothing it does not have', async () => {
    const doc = await document();
    const routed = routerRoutes(createApiRouter(deps)).flatMap((r) => r.methods.map((m) => `${m} /api${r.path}`));
    const described = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`));
    expect(routed.length).toBeGreaterThanOrEqual(11);
    expect(described.sort()).toEqual(routed.sort());
    for (const path of ['/api/series', '/api/candles', '/api/ticks', '/api/latest', '/api/queues', '/api/rejections', '/api/events', '/api/stream', '/api/services', '/api/openapi.json']) {
      expect(doc.paths[path]?.get, path).toBeDefined();
    }
  });

  it('lists each GET route\'s query parameters as the router checks them, and its required ones', async () => {
    const doc = await document();
    for (const [path, item] of Object.entries(doc.paths)) {
      const op = item.get;
      if (!op) continue;
      for (const p of op.parameters) expect(p.in, `${path} ${p.name}`).toBe('query');
      expect(Object.keys(op.responses), path).toEqual(expect.arrayContaining(['200', '400', '401']));
      // An unknown parameter is refused with the list the router accepts, in its order.
      const unknown = await fetch(`${base}${path}?not_a_parameter=1`, { headers: auth });
      expect(unknown.status, path).toBe(400);
      const { error } = (await unknown.json()) as { error: string };
      const accepted = /\(expected: (.*)\)$/.exec(error)?.[1] ?? '';
      expect(op.parameters.map((p) => p.name).join(', '), path).toBe(accepted);
      // Without any parameters the first required one is named as missing.
      const required = op.parameters.filter((p) => p.required);
      if (required.length > 0) {
        const bare = await fetch(`${base}${path}`, { headers: auth });
        expect(bare.status, path).toBe(400);
        expect(await bare.json(), path).toEqual({ error: `${required[0]!.name} is required`, parameter: required[0]!.name });
      }
    }
  });

  it('resolves every $ref inside the document', async () => {
    const doc = await document();
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const pointer = ref.slice('"$ref":"'.length, -1);
      expect(pointer.startsWith('#/'), pointer).toBe(true);
      const target = pointer.slice(2).split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect(target, pointer).toBeTypeOf('object');
    }
  });
});
