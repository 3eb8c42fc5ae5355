import { afterEach, describe, expect, it } from 'vitest';
import { startFakeFred, type FakeFred } from './fred.js';
import { fetchJson, shape } from './contract-testing.js';

/**
 * Contract: the fake's JSON has the shape of the example in FRED's docs
 * (fred.stlouisfed.org/docs/api/fred/series_observations.html, errors.html), its CSV the shape of
 * fredgraph.csv (`observation_date,<ID>` header, empty field for a missing value).
 */
const DOCUMENTED = {
  observations: {
    realtime_start: '2013-08-14', realtime_end: '2013-08-14', observation_start: '1776-07-04', observation_end: '9999-12-31',
    units: 'lin', output_type: 1, file_type: 'json', order_by: 'observation_date', sort_order: 'asc', count: 84, offset: 0, limit: 100000,
    observations: [{ realtime_start: '2013-08-14', realtime_end: '2013-08-14', date: '1929-01-01', value: '1065.9' }],
  },
  seriesMissing: { error_code: 400, error_message: 'Bad Request.  The series does not exist.' },
  keyNotSet: /^Bad Request\. {2}Variable api_key is not set\./,
  keyMalformed: /^Bad Request\. {2}The value for variable api_key is not a 32 character alpha-numeric lower-case string\./,
  keyNotRegistered: /^Bad Request\. {2}The value for variable api_key is not registered\./,
};

const KEY = 'abcdefghijklmnopqrstuvwxyz123456';

let fake: FakeFred | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const observations = (query: string) => fetchJson<Record<string, unknown>>(`${fake!.apiUrl}/series/observations?${query}`);

type Rows = { date: string; value: string }[];

describe('fake FRED speaks the documented formats', () => {
  it('serves observations in the documented envelope, dates as period starts, `.` for missing values', async () => {
    fake = await startFakeFred({ seed: 2, apiKey: KEY });
    const daily = await observations(`series_id=DGS10&api_key=${KEY}&file_type=json&observation_start=2024-01-01&observation_end=2024-12-31`);
    expect(daily.status).toBe(200);
    expect(shape(daily.body)).toEqual(shape(DOCUMENTED.observations));
    const rows = daily.body.observations as Rows;
    expect(daily.body.count).toBe(rows.length);
    expect(rows.length).toBeGreaterThan(250);
    expect(rows.every((r) => ![0, 6].includes(new Date(`${r.date}T00:00:00Z`).getUTCDay()))).toBe(true);
    expect(rows.some((r) => r.value === '.')).toBe(true);
    expect(rows.every((r) => r.value === '.' || /^-?\d+\.\d{2}$/.test(r.value))).toBe(true);
    expect(rows[0]!.date >= '2024-01-01' && rows.at(-1)!.date <= '2024-12-31').toBe(true);

    const monthly = (await observations(`series_id=CPIAUCSL&api_key=${KEY}&file_type=json&observation_start=2024-01-01&observation_end=2024-12-31`)).body.observations as Rows;
    expect(monthly.map((r) => r.date)).toEqual(Array.from({ length: 12 }, (_, i) => `2024-${String(i + 1).padStart(2, '0')}-01`));
    const quarterly = (await observations(`series_id=GDP&api_key=${KEY}&file_type=json&observation_start=2024-01-01&observation_end=2024-12-31`)).body.observations as Rows;
    expect(quarterly.map((r) => r.date)).toEqual(['2024-01-01', '2024-04-01', '2024-07-01', '2024-10-01']);
    // A spread series goes below zero.
    const spread = fake.observations('T10Y2Y').filter((o) => o.value !== '.');
    expect(spread.some((o) => o.value.startsWith('-'))).toBe(true);

    const paged = await observations(`series_id=DGS10&api_key=${KEY}&file_type=json&observation_start=2024-01-01&observation_end=2024-12-31&limit=100&offset=100`);
    expect(paged.body.count).toBe(rows.length);
    expect(paged.body.observations).toEqual(rows.slice(100, 200));
    // The default file type is XML, as FRED's.
    const xml = await fetch(`${fake.apiUrl}/series/observations?series_id=GDP&api_key=${KEY}&observation_start=2024-01-01&observation_end=2024-12-31`);
    expect(await xml.text()).toMatch(/^<\?xml[^]*<observation realtime_start="[\d-]+" realtime_end="[\d-]+" date="2024-01-01" value="[\d.]+"\/>/);
  });

  it('answers FRED\'s error bodies for keys and series, and 429', async () => {
    fake = await startFakeFred({ apiKey: KEY });
    const missingSeries = await observations(`series_id=NOPE&api_key=${KEY}&file_type=json`);
    expect([missingSeries.status, missingSeries.body]).toEqual([400, DOCUMENTED.seriesMissing]);
    const noKey = await observations('series_id=DGS10&file_type=json');
    expect(noKey.status).toBe(400);
    expect(noKey.body.error_message).toMatch(DOCUMENTED.keyNotSet);
    expect((await observations('series_id=DGS10&api_key=NOT-A-KEY&file_type=json')).body.error_message).toMatch(DOCUMENTED.keyMalformed);
    const other = await observations(`series_id=DGS10&api_key=${'0'.repeat(32)}&file_type=json`);
    expect(shape(other.body)).toEqual(shape(DOCUMENTED.seriesMissing));
    expect(other.body.error_message).toMatch(DOCUMENTED.keyNotRegistered);

    fake.controls.force429({ retryAfterSeconds: 3 });
    const limited = await fetch(`${fake.apiUrl}/series/observations?series_id=DGS10&api_key=${KEY}&file_type=json`);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '3']);
    expect(await limited.json()).toEqual({ error_code: 429, error_message: 'Too Many Requests.  Exceeded Rate Limit' });
  });

  it('serves the keyless fredgraph CSV with the same observations, missing values empty', async () => {
    fake = await startFakeFred({ seed: 5 });
    const response = await fetch(`${fake.graphUrl}?id=DGS10&cosd=2023-01-01&coed=2023-12-31`);
    expect(response.headers.get('content-type')).toBe('text/csv');
    const lines = (await response.text()).trimEnd().split('\n');
    expect(lines[0]).toBe('observation_date,DGS10');
    const csv = lines.slice(1).map((line) => line.split(','));
    expect(csv.every((fields) => fields.length === 2)).toBe(true);
    const json = (await observations(`series_id=DGS10&api_key=${KEY}&file_type=json&observation_start=2023-01-01&observation_end=2023-12-31`)).body.observations as Rows;
    expect(csv).toEqual(json.map((r) => [r.date, r.value === '.' ? '' : r.value]));
    expect(csv.some(([, v]) => v === '')).toBe(true);
    expect((await fetch(`${fake.graphUrl}?id=NOPE`)).status).toBe(404);
  });

  it('makes values a pure function of seed, series and date, and applies revisions', async () => {
    const a = await startFakeFred({ seed: 9, startDate: '2022-01-01' });
    const b = await startFakeFred({ seed: 9, startDate: '2020-01-01' });
    const c = await startFakeFred({ seed: 10, startDate: '2022-01-01' });
    try {
      const fromA = a.observations('UNRATE');
      expect(b.observations('UNRATE').filter((o) => o.date >= '2022-01-01')).toEqual(fromA);
      expect(c.observations('UNRATE')).not.toEqual(fromA);
      a.controls.revise('UNRATE', fromA[3]!.date, '9.9');
      const response = await fetch(`${a.apiUrl}/series/observations?series_id=UNRATE&api_key=${KEY}&file_type=json&observation_start=${fromA[3]!.date}`);
      const rows = ((await response.json()) as { observations: Rows }).observations;
      expect(rows[0]).toMatchObject({ date: fromA[3]!.date, value: '9.9' });
      expect(rows.slice(1).map((r) => r.value)).toEqual(fromA.slice(4).map((o) => o.value));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
