import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { esc, MAX_TEXT, renderAction, shorten, splitText } from '../../../src/bot/render.js';

const base: Action = {
  id: 'redeploy-n1-<b>x</b>',
  instance: '20260527T140000Z',
  type: 'redeploy',
  risk: 'guarded',
  node: 'n1',
  service: '<img src=x onerror=alert(1)>',
  drift: 'unhealthy_service',
  trigger: 'healthcheck_failed',
  state: 'pending',
  created_at: '2026-05-27T14:00:00.000Z',
  updated_at: '2026-05-27T14:00:00.000Z',
  history: [],
};
const data = (op: string) => `${op}:REF`;
const NOW = Date.parse('2026-05-27T14:05:00.000Z');

describe('render', () => {
  it('escapes every value that came from a file', () => {
    const r = renderAction(base, data, { now: NOW });
    expect(r.text).not.toContain('<img');
    expect(r.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(r.text).toContain('redeploy-n1-&lt;b&gt;x&lt;/b&gt;');
    expect(esc('a & <b>')).toBe('a &amp; &lt;b&gt;');
  });
  it('pending has Approve/Reject; a guarded one being confirmed has Confirm/Back; finished ones have none', () => {
    expect(renderAction(base, data, { now: NOW }).buttons).toEqual([[{ text: '✅ Approve', data: 'ap:REF' }, { text: '✖️ Reject', data: 'rj:REF' }]]);
    expect(renderAction(base, data, { now: NOW, confirming: true }).buttons).toEqual([[{ text: '⚠️ Confirm', data: 'cf:REF' }, { text: '↩️ Back', data: 'bk:REF' }]]);
    for (const state of ['approved', 'running', 'completed', 'failed', 'rejected', 'cancelled'] as const) {
      expect(renderAction({ ...base, state }, data, { now: NOW }).buttons).toEqual([]);
    }
    expect(renderAction({ ...base, state: 'failed', error: 'engine <down>' }, data, { now: NOW }).text).toContain('Failed</b>: engine &lt;down&gt;');
    expect(renderAction({ ...base, state: 'completed', verified: false }, data, { now: NOW }).text).toContain('restarted but still unhealthy');
  });
  it('a living message does not change with the clock (no edit storm on the rate limit)', () => {
    expect(renderAction(base, data, { now: NOW }).text).toBe(renderAction(base, data, { now: NOW + 3_600_000 }).text);
  });
  it('splits long texts at line breaks and shortens with a pointer to the page', () => {
    const long = Array.from({ length: 500 }, (_, i) => `line ${i} ${'x'.repeat(20)}`).join('\n');
    const parts = splitText(long);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((p) => p.length <= MAX_TEXT)).toBe(true);
    expect(parts.join('\n')).toBe(long);
    const oneLine = 'y'.repeat(10_000);
    expect(splitText(oneLine).join('')).toBe(oneLine);
    const s = shorten(`<b>${'z'.repeat(5000)}</b>`, 'http://127.0.0.1:18180/');
    expect(s.length).toBeLessThanOrEqual(MAX_TEXT);
    expect(s).toMatch(/shortened; full text on http:\/\/127\.0\.0\.1:18180\/\)$/);
    expect(s).not.toMatch(/<b>[^<]*$/);
  });
});
