import { describe, expect, it } from 'vitest';
import { access, cidrContains, rulePorts, selects, type NetworkPolicy } from './network-policy.js';

const policy = (name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({ kind: 'NetworkPolicy', metadata: { name }, spec });

describe('selects', () => {
  it.each([
    [{}, {}, true],
    [{ matchLabels: { a: '1' } }, { a: '1', b: '2' }, true],
    [{ matchLabels: { a: '1' } }, { a: '2' }, false],
    [{ matchLabels: { a: '1' } }, {}, false],
    [{ matchExpressions: [{ key: 'a', operator: 'In' as const, values: ['1', '2'] }] }, { a: '2' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn' as const, values: ['1'] }] }, {}, true],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' as const }] }, { b: '1' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' as const }] }, { b: '1' }, true],
  ])('%j selects %j: %s', (selector, labels, expected) => expect(selects(selector, labels)).toBe(expected));
});

describe('access', () => {
  const deny = policy('deny', { podSelector: { matchLabels: { app: 'x' } }, policyTypes: ['Ingress', 'Egress'] });
  const dns = policy('dns', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }] }] });
  const legacy = policy('legacy', { podSelector: { matchLabels: { app: 'y' } }, ingress: [{}] });

  it('isolates a pod once any selecting policy names the direction, and unions the rules', () => {
    expect(access([deny, dns], { app: 'x' }, 'Egress')).toEqual({ isolated: true, rules: [{ ports: [{ protocol: 'UDP', port: 53 }], policy: 'dns' }] });
    expect(access([deny, dns], { app: 'x' }, 'Ingress')).toEqual({ isolated: true, rules: [] });
    expect(access([deny], { app: 'z' }, 'Egress').isolated).toBe(false);
  });

  it('defaults policyTypes as the API server does: Ingress, and Egress only with egress rules', () => {
    expect(access([legacy], { app: 'y' }, 'Ingress').isolated).toBe(true);
    expect(access([legacy], { app: 'y' }, 'Egress').isolated).toBe(false);
  });

  it('names the ports of a rule, `*` for all', () => {
    expect(rulePorts({})).toEqual(['*']);
    expect(rulePorts({ ports: [{ port: 5432 }, { protocol: 'UDP', port: 53 }, { port: 'health' }, { port: 1000, endPort: 2000 }] })).toEqual(['TCP/5432', 'UDP/53', 'TCP/health', 'TCP/1000-2000']);
  });
});

describe('cidrContains', () => {
  it.each([
    ['192.0.2.0/24', '192.0.2.10/32', true],
    ['192.0.2.0/24', '192.0.3.1/32', false],
    ['10.0.0.0/8', '10.255.0.0/16', true],
    ['0.0.0.0/0', '8.8.8.8/32', true],
    ['fc00::/7', 'fd12:3456::/48', true],
    ['fc00::/7', '2001:db8::/32', false],
    ['0.0.0.0/0', '::/0', false],
  ])('%s contains %s: %s', (outer, inner, expected) => expect(cidrContains(outer, inner)).toBe(expected));
});
