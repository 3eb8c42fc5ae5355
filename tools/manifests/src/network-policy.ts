/**
 * What a set of NetworkPolicies (networking.k8s.io/v1) lets one pod do, evaluated as Kubernetes does:
 * a pod is isolated in a direction once any policy that selects it lists that direction in
 * policyTypes; it may then send or receive what the union of those policies' rules allows. All
 * policies and pods are taken to be in one namespace (a kustomize build of one overlay).
 */

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface PolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}

export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface PolicyRule {
  ports?: PolicyPort[];
  to?: PolicyPeer[];
  from?: PolicyPeer[];
}

export interface NetworkPolicy {
  kind: 'NetworkPolicy';
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: PolicyRule[];
    egress?: PolicyRule[];
  };
}

export type Direction = 'Ingress' | 'Egress';

/** Whether labels satisfy a selector; an empty selector ({}) selects everything. */
export function selects(selector: LabelSelector, labels: Readonly<Record<string, string>> = {}): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = key in labels;
    const ok =
      operator === 'In' ? has && values.includes(labels[key] as string)
        : operator === 'NotIn' ? !has || !values.includes(labels[key] as string)
          : operator === 'Exists' ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** policyTypes as the API server defaults it: Ingress always, Egress when the policy has egress rules. */
export function policyTypes(policy: NetworkPolicy): Direction[] {
  return policy.spec.policyTypes ?? (policy.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
}

export interface PodAccess {
  /** No policy selects the pod for this direction: everything is allowed. */
  isolated: boolean;
  /** The rules that apply (from every selecting policy), each with the policy it came from. */
  rules: (PolicyRule & { policy: string })[];
}

export function access(policies: readonly NetworkPolicy[], podLabels: Readonly<Record<string, string>> | undefined, direction: Direction): PodAccess {
  const selecting = policies.filter((p) => selects(p.spec.podSelector, podLabels) && policyTypes(p).includes(direction));
  return {
    isolated: selecting.length > 0,
    rules: selecting.flatMap((p) => (direction === 'Ingress' ? (p.spec.ingress ?? []) : (p.spec.egress ?? [])).map((rule) => ({ ...rule, policy: p.metadata.name }))),
  };
}

/**
 * `protocol/port` for each port a rule opens (`TCP/5432`, `TCP/health`), or `*` when it lists no
 * ports (every port). Port ranges (endPort) come out as `TCP/1000-2000`.
 */
export function rulePorts(rule: PolicyRule): string[] {
  if (!rule.ports || rule.ports.length === 0) return ['*'];
  return rule.ports.map((p) => `${p.protocol ?? 'TCP'}/${p.port ?? '*'}${p.endPort === undefined ? '' : `-${p.endPort}`}`);
}

/** The peers of a rule; `undefined` means any peer (the field is absent or empty). */
export function rulePeers(rule: PolicyRule, direction: Direction): PolicyPeer[] | undefined {
  const peers = direction === 'Ingress' ? rule.from : rule.to;
  return peers && peers.length > 0 ? peers : undefined;
}

/** An IPv4 or IPv6 CIDR as a bigint range, to check containment. */
function cidrRange(cidr: string): { v6: boolean; first: bigint; last: bigint } {
  const [address = '', bitsText] = cidr.split('/');
  const v6 = address.includes(':');
  const width = v6 ? 128 : 32;
  const bits = Number(bitsText ?? width);
  let value = 0n;
  if (v6) {
    const [head = '', tail] = address.split('::');
    const parse = (s: string) => (s ? s.split(':').map((g) => BigInt(parseInt(g, 16))) : []);
    const h = parse(head);
    const t = tail === undefined ? [] : parse(tail);
    const groups = [...h, ...Array<bigint>(8 - h.length - t.length).fill(0n), ...t];
    for (const g of groups) value = (value << 16n) | g;
  } else {
    for (const octet of address.split('.')) value = (value << 8n) | BigInt(Number(octet));
  }
  const size = 1n << BigInt(width - bits);
  const first = (value / size) * size;
  return { v6, first, last: first + size - 1n };
}

/** Whether `inner` lies wholly inside `outer` (same address family). */
export function cidrContains(outer: string, inner: string): boolean {
  const a = cidrRange(outer);
  const b = cidrRange(inner);
  return a.v6 === b.v6 && a.first <= b.first && b.last <= a.last;
}
