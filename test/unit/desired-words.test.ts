// A services.yaml problem is said in an operator's words, with the line, not in the schema
// library's ("expected record, received undefined").
import { describe, expect, it } from 'vitest';
import { parseDesiredText } from '../../src/store/desired.js';

const problems = (text: string) => {
  const r = parseDesiredText('n1', 'hosts/n1/services.yaml', text);
  if (r.ok) throw new Error('expected problems');
  return r.problems.map((p) => `${p.line}: ${p.reason}`);
};

describe('services.yaml problems in words', () => {
  it.each([
    ['docker:\n  socket: /x\n', '1: services: missing: a services.yaml needs `services:`, a map of service names (`services: {}` for none)'],
    ['services:\n  a:\n    auto_approve: yes\n', '3: services.a.auto_approve: must be true or false, not "yes" (write true: YAML 1.2 reads yes as text)'],
    ['services:\n  a:\n    monitor: off\n', '3: services.a.monitor: must be true or false, not "off" (write false: YAML 1.2 reads off as text)'],
    ['services:\n  a:\n    containers: web\n', '3: services.a.containers: must be a list, e.g. [a, b], not "web"'],
    ['services:\n  a:\n    auto_approve: 1\n', '3: services.a.auto_approve: must be true or false, not 1'],
    ['services: [a, b]\n', '1: services: must be a map (key: value lines), not ["a","b"]'],
  ])('%j', (text, want) => {
    expect(problems(text)).toEqual([want]);
    expect(problems(text).join('\n')).not.toMatch(/Invalid input|received/);
  });
});

describe('depends_on refusals, each at its line and column', () => {
  const where = (text: string) => {
    const r = parseDesiredText('n1', 'hosts/n1/services.yaml', text);
    if (r.ok) throw new Error('expected problems');
    return r.problems.map((p) => `${p.line}:${p.col}: ${p.reason}`);
  };
  it.each([
    ['services:\n  app:\n    depends_on: [db, vpn]\n  db: {}\n', '3:22: services.app.depends_on: no service "vpn" in this file (services: app, db)'],
    ['services:\n  app:\n    depends_on:\n      - nas/vpn\n', '4:9: services.app.depends_on: nas/vpn is a service of node nas: depends_on names services of this node only'],
    ['services:\n  app:\n    depends_on: [app]\n', '3:18: services.app.depends_on: app cannot depend on itself'],
    ['services:\n  app:\n    depends_on: [db, db]\n  db: {}\n', '3:22: services.app.depends_on: db is named twice'],
    ['services:\n  vpn:\n    depends_on: [app]\n  app:\n    depends_on: [vpn]\n', '5:18: services.app.depends_on: depends_on makes a cycle: app → vpn → app'],
    ['services:\n  a:\n    depends_on: [b]\n  b:\n    depends_on: [c]\n  c:\n    depends_on: [a]\n', '3:18: services.a.depends_on: depends_on makes a cycle: a → b → c → a'],
  ])('%j', (text, expected) => {
    expect(where(text)).toEqual([expected]);
  });

  it('a good graph loads, each service with its dependencies', () => {
    const r = parseDesiredText('n1', 'hosts/n1/services.yaml', 'services:\n  vpn: {}\n  a1:\n    depends_on: [vpn]\n  a2: {}\n');
    expect(r.ok && Object.fromEntries(Object.values(r.value.services).map((s) => [s.service, s.depends_on]))).toEqual({ vpn: [], a1: ['vpn'], a2: [] });
  });
});

describe('maintenance windows in services.yaml, each refusal at its line', () => {
  const words = (text: string) => {
    const r = parseDesiredText('n1', 'hosts/n1/services.yaml', text);
    if (r.ok) throw new Error('expected problems');
    return r.problems.map((p) => `${p.line}: ${p.reason}`);
  };
  it.each([
    ['docker:\n  maintenance:\n    - weekdays: [funday]\nservices: {}\n', '3: docker.maintenance.0.weekdays.0: "funday" is not a weekday or a range of them (e.g. saturday, \'monday:friday\')'],
    ['docker:\n  maintenance:\n    - times: [{ start_time: "25:00", end_time: "26:00" }]\nservices: {}\n', '3: docker.maintenance.0.times.0.start_time: start_time "25:00" is not a time of day HH:MM from 00:00 to 23:59'],
    ['services:\n  app:\n    maintenance:\n      - times: "25:00-26:00"\n', '4: services.app.maintenance.0.times: must be a list, e.g. [a, b], not "25:00-26:00"'],
    ['docker:\n  maintenance:\n    - weekdays: [saturday]\n      location: Mars/Olympus\nservices: {}\n', '4: docker.maintenance.0.location: is not a time zone this system knows (an IANA name such as Europe/Berlin, or UTC)'],
  ])('%j', (text, first) => {
    expect(words(text)[0]).toBe(first);
  });

  it('a good window loads for the node and for a service', () => {
    const r = parseDesiredText('n1', 'hosts/n1/services.yaml', 'docker:\n  maintenance:\n    - weekdays: [saturday, sunday]\n      times: [{ start_time: "02:00", end_time: "04:00" }]\n      location: Europe/Berlin\nservices:\n  app:\n    maintenance:\n      - days_of_month: [\'-1\']\n');
    if (!r.ok) throw new Error(r.problems[0]!.reason);
    expect(r.value.maintenance).toEqual([{ times: [[120, 240]], weekdays: [[6, 6], [0, 0]], daysOfMonth: [], months: [], years: [], location: 'Europe/Berlin' }]);
    expect(r.value.services.app!.maintenance).toEqual([{ times: [], weekdays: [], daysOfMonth: [[-1, -1]], months: [], years: [], location: 'UTC' }]);
  });
});

describe('what services without their own settings share (docs/benchmarks.md: heap at 50 000 services)', () => {
  const parsed = (text: string) => {
    const r = parseDesiredText('n1', 'hosts/n1/services.yaml', text);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return r.value;
  };

  it('one frozen empty list and the node budget are shared; a service of its own gets its own', () => {
    const d = parsed('docker:\n  heal:\n    attempts: 5\nservices:\n  a: {}\n  b: {}\n  c:\n    depends_on: [a]\n    heal:\n      backoff: 1m\n');
    const { a, b, c } = d.services as Record<string, (typeof d.services)[string]>;
    expect(a!.depends_on).toBe(b!.depends_on);
    expect(a!.maintenance).toBe(d.maintenance);
    expect(Object.isFrozen(a!.depends_on)).toBe(true);
    expect(a!.heal).toBe(b!.heal);
    expect(a!.heal).toMatchObject({ attempts: 5 });
    expect(Object.isFrozen(a!.heal)).toBe(true);
    expect(c!.depends_on).toEqual(['a']);
    expect(c!.heal).not.toBe(a!.heal);
    expect(c!.heal).toMatchObject({ attempts: 5, backoffMs: 60_000 });
    // A change in place would reach every service: it throws instead.
    expect(() => (a!.depends_on as string[]).push('x')).toThrow(TypeError);
    expect(b!.depends_on).toEqual([]);
  });
});
