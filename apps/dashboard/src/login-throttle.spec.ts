import { describe, expect, it } from 'vitest';
import { clientKey, LOGIN_THROTTLE_LIMITS, LoginThrottle, type LoginThrottleLimits } from './login-throttle.js';

const limits: LoginThrottleLimits = { freeFailures: 5, baseLockoutMs: 1_000, maxLockoutMs: 15 * 60_000, forgetAfterMs: 3_600_000, maxClients: 1000 };

function throttleAt(start = 0, overrides: Partial<LoginThrottleLimits> = {}) {
  const clock = { now: start };
  return { clock, throttle: new LoginThrottle({ ...limits, ...overrides }, () => clock.now) };
}

describe('LoginThrottle', () => {
  it('locks a client out after its free failures, doubling per failure up to the maximum', () => {
    const { clock, throttle } = throttleAt();
    const locks: number[] = [];
    for (let i = 0; i < 18; i++) {
      clock.now += throttle.retryAfterMs('1.2.3.4');
      locks.push(throttle.recordFailure('1.2.3.4'));
    }
    expect(locks).toEqual([0, 0, 0, 0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 900_000, 900_000, 900_000, 900_000]);
    expect(throttle.retryAfterMs('1.2.3.4')).toBe(900_000);
    expect(throttle.retryAfterMs('5.6.7.8')).toBe(0);
  });

  it('forgets a client after a success, or an hour without failures', () => {
    const { clock, throttle } = throttleAt();
    for (let i = 0; i < 4; i++) throttle.recordFailure('a');
    throttle.recordSuccess('a');
    expect(throttle.recordFailure('a')).toBe(0);
    for (let i = 0; i < 3; i++) throttle.recordFailure('b');
    clock.now += limits.forgetAfterMs;
    // Counting starts again: four more failures are still free.
    for (let i = 0; i < 4; i++) expect(throttle.recordFailure('b')).toBe(0);
  });

  it('stays within maxClients however many addresses fail, and counts what it forgot early', () => {
    const { clock, throttle } = throttleAt(0, { maxClients: 100 });
    for (let i = 0; i < 1000; i++) {
      clock.now += 1;
      throttle.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    }
    expect(throttle.stats()).toEqual({ clients: 100, lockedOut: 0, evicted: 900, refused: 0 });
    // The newest are kept.
    for (let i = 0; i < 4; i++) throttle.recordFailure('10.0.3.231');
    expect(throttle.stats().lockedOut).toBe(1);
  });

  it('drops idle clients before evicting anyone', () => {
    const { clock, throttle } = throttleAt(0, { maxClients: 10 });
    for (let i = 0; i < 10; i++) throttle.recordFailure(`old-${i}`);
    clock.now += limits.forgetAfterMs;
    for (let i = 0; i < 10; i++) throttle.recordFailure(`new-${i}`);
    expect(throttle.stats()).toMatchObject({ clients: 10, evicted: 0 });
  });

  it('ships limits that lock out after 5 failures and bound the table', () => {
    expect(LOGIN_THROTTLE_LIMITS).toMatchObject({ freeFailures: 5, maxClients: 10_000 });
    expect(LOGIN_THROTTLE_LIMITS.forgetAfterMs).toBeGreaterThanOrEqual(LOGIN_THROTTLE_LIMITS.maxLockoutMs);
  });
});

describe('clientKey', () => {
  it('keys IPv4 by address (also mapped into IPv6) and IPv6 by its /64', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2::99')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey(undefined)).toBe('unknown');
  });
});
