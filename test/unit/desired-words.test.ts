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
