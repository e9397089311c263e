import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { plainText } from '../../../src/bot/html-split.js';
import { buttonsFor, decode } from '../../../src/bot/callback-data.js';
import { esc, MAX_TEXT, renderAction, shorten, splitText } from '../../../src/bot/render.js';
import { renderList } from '../../../src/bot/render-replies.js';

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
const data = buttonsFor('REF');
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
    const snoozeRow = [{ text: '💤 1 h', data: 'zh:REF' }, { text: '💤 till 08:00', data: 'zm:REF' }, { text: '💤 till it recovers', data: 'zr:REF' }];
    expect(renderAction(base, data, { now: NOW }).buttons).toEqual([[{ text: '✅ Approve', data: 'ap:REF', style: 'success' }, { text: '✖️ Reject', data: 'rj:REF', style: 'danger' }], snoozeRow]);
    expect(renderAction(base, data, { now: NOW, confirming: true }).buttons).toEqual([[{ text: '⚠️ Confirm', data: 'cf:REF', style: 'danger' }, { text: '↩️ Back', data: 'bk:REF' }]]);
    // With the containers it names: a copy_text button with the command to read their logs.
    expect(renderAction({ ...base, containers: ['z2m'] }, data, { now: NOW }).buttons.at(-1)).toEqual([{ text: '📋 docker logs', copy: 'docker logs --tail 100 z2m' }]);
    for (const state of ['approved', 'running', 'completed', 'failed', 'rejected', 'cancelled'] as const) {
      expect(renderAction({ ...base, state }, data, { now: NOW }).buttons).toEqual([]);
    }
    expect(renderAction({ ...base, state: 'failed', error: 'engine <down>' }, data, { now: NOW }).text).toContain('Failed</b>: engine &lt;down&gt;');
    expect(renderAction({ ...base, state: 'completed', verified: false }, data, { now: NOW }).text).toContain('restarted but still unhealthy');
    // Snoozed: says until when and by whom, with Unsnooze while it runs; not after, nor once ended by hand.
    const snoozed = { ...base, state: 'cancelled' as const, cancel_reason: 'cancelled_by_snooze', snooze: { id: 'abc', until: new Date(NOW + 3_600_000).toISOString(), recover: false, by: '@admin' } };
    const r = renderAction(snoozed, data, { now: NOW });
    expect(r.text).toContain(`💤 <b>Snoozed</b> until ${new Date(NOW + 3_600_000).toISOString().slice(11, 16)} UTC by @admin`);
    expect(r.buttons).toEqual([[{ text: '⏰ Unsnooze', data: 'zu:REF' }]]);
    expect(renderAction(snoozed, data, { now: NOW + 3_700_000 }).buttons).toEqual([]);
    expect(renderAction({ ...snoozed, snooze: { ...snoozed.snooze, unsnoozed_at: new Date(NOW).toISOString(), unsnoozed_by: '@x' } }, data, { now: NOW }).text).toContain('unsnoozed at');
  });
  it('a living message does not change with the clock (no edit storm on the rate limit)', () => {
    expect(renderAction(base, data, { now: NOW }).text).toBe(renderAction(base, data, { now: NOW + 3_600_000 }).text);
  });
  it('splits long texts at line breaks and shortens with a pointer to the page', () => {
    const long = Array.from({ length: 500 }, (_, i) => `line ${i} ${'x'.repeat(20)}`).join('\n');
    const parts = splitText(long);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((p) => p.length <= MAX_TEXT)).toBe(true);
    // Cut after a line end: the newline stays with the part before.
    expect(parts.join('')).toBe(long);
    expect(parts.slice(0, -1).every((p) => p.endsWith('\n'))).toBe(true);
    const oneLine = 'y'.repeat(10_000);
    expect(splitText(oneLine).join('')).toBe(oneLine);
    const s = shorten(`<b>${'z'.repeat(5000)}</b>`, 'http://127.0.0.1:18180/');
    expect(plainText(s).length).toBeLessThanOrEqual(MAX_TEXT);
    expect(s).toMatch(/<\/b>\n… \(shortened; full text on http:\/\/127\.0\.0\.1:18180\/\)$/);
  });
});

describe('/status', () => {
  it('shows an unreachable engine, unknown services, and a node with nothing watched without alarm', async () => {
    const { summarize } = await import('../../../src/domain/summary.js');
    const { renderStatus } = await import('../../../src/bot/render-replies.js');
    const iso = '2026-05-27T14:04:00.000Z';
    const node = (name: string, engine: 'reachable' | 'unreachable' | null, agentSeen: string | null) => ({
      node: name, last_seen: agentSeen, last_event_type: 'node_heartbeat', disk_pressure: null, disk_used_pct: null, disk_updated_at: null,
      events_applied: 1, events_unknown: 0, engine, engine_since: engine ? '2026-05-27T14:00:00.000Z' : null, agent: agentSeen ? ('alive' as const) : ('silent' as const),
    });
    const s = summarize({
      world: {
        services: { 'pi/app': { node: 'pi', service: 'app', status: 'unknown', reason: 'engine_unreachable', since: iso, last_event_at: iso, last_healthy_at: null, last_incident: null, changes: [] } },
        nodes: { pi: node('pi', 'unreachable', iso) },
      },
      desired: {
        pi: { node: 'pi', docker: {}, services: { app: { node: 'pi', service: 'app', containers: ['app'], monitor: true, auto_approve: false } } },
        media: { node: 'media', docker: {}, services: { jf: { node: 'media', service: 'jf', containers: ['jf'], monitor: false, auto_approve: false } } },
      },
      open: [],
      counts: { pending: 0, approved: 0, running: 0, completed: 0, failed: 0, rejected: 0, cancelled: 0 },
      notices: [],
      configErrors: [],
      observer: { applied: 1, malformed: 0, duplicate: 0, unknown: 0 },
      version: '0.1.0',
      now: NOW,
    });
    const text = renderStatus(s, NOW);
    expect(text).toMatch(/🔴 <b>pi<\/b>: agent alive, <b>engine unreachable<\/b> since 5m ago/);
    expect(text).toMatch(/0\/1 healthy, 1 unknown/);
    expect(text).toMatch(/⚪ <b>media<\/b>: no services watched/);
    expect(text).toMatch(/🔌 pi: 1 service\(s\) unknown \(engine unreachable\)/);
    expect(text).not.toMatch(/All services healthy/);
  });
});

describe('renderList', () => {
  const many = (n: number): Action[] =>
    Array.from({ length: n }, (_, i) => ({ ...base, id: `container-restart-n${i % 3}-s${i}`, service: `s${i}`, node: `n${i % 3}`, type: i % 4 === 0 ? 'redeploy' : 'container_restart', risk: i % 4 === 0 ? 'guarded' : 'low' }) as Action);
  const refOf = (a: Action) => `R${a.service}`;
  const view = (members: Action[], v: 'summary' | number, confirming: string | null = null) => renderList({ title: 'Pending', members, view: v, confirming, superseded: false }, refOf, buttonsFor, 'LIST');

  it('58 pending: one message with counts by node and type, the oldest 5 with buttons, Approve all low-risk, Show each', () => {
    const r = view(many(58), 'summary');
    expect(r.text).toMatch(/58 pending/);
    expect(r.text).toMatch(/By node: n0 20 · n1 19 · n2 19/);
    expect(r.text).toMatch(/By type: container_restart 43 · redeploy 15/);
    expect(r.text).toMatch(/Oldest 5:/);
    const labels = r.buttons.flat().map((b) => b.text);
    expect(labels).toEqual(['🛡 s0', '✖️ Reject', '✅ s1', '✖️ Reject', '✅ s2', '✖️ Reject', '✅ s3', '✖️ Reject', '🛡 s4', '✖️ Reject', '✅ Approve all low-risk (43)', '🔍 Show each (6 pages of 10)']);
    for (const b of r.buttons.flat()) expect(decode(b.data).op).not.toBe('invalid');
  });

  it('the same service name on two nodes: its buttons name the node', () => {
    const two = [
      { ...base, id: 'container-restart-n1-a', node: 'n1', service: 'a', risk: 'low' },
      { ...base, id: 'container-restart-n2-a', node: 'n2', service: 'a', risk: 'low' },
      { ...base, id: 'container-restart-n2-b', node: 'n2', service: 'b', risk: 'low' },
    ] as Action[];
    const labels = renderList({ title: 'Pending', members: two, view: 'summary', confirming: null, superseded: false }, (a) => `R${a.node}${a.service}`, buttonsFor, 'LIST').buttons.flat().map((b) => b.text);
    expect(labels.filter((t) => t.startsWith('✅ ') && !t.includes('all'))).toEqual(['✅ n1/a', '✅ n2/a', '✅ b']);
  });

  it('pages of ten with Previous / Next; never more than 100 buttons whatever the size', () => {
    const members = many(5000);
    for (const v of ['summary', 0, 1, 250, 499, 10_000] as const) {
      const r = view(members, v);
      expect(r.buttons.flat().length).toBeLessThanOrEqual(100);
      expect(splitText(r.text)).toHaveLength(1);
    }
    const p2 = view(members, 1);
    expect(p2.text).toMatch(/page 2 of 500/);
    expect(p2.buttons.at(-1)!.map((b) => b.text)).toEqual(['◀️ Previous', 'Next ▶️']);
    expect(decode(p2.buttons.at(-1)![1]!.data)).toEqual({ op: 'page', ref: 'LIST', n: 2 });
    expect(view(members, 499).buttons.at(-1)!.map((b) => b.text)).toEqual(['◀️ Previous']);
  });

  it('a guarded action pressed once shows Confirm / Back in its row; a superseded list has no buttons', () => {
    const members = many(3);
    expect(view(members, 'summary', 'Rs0').buttons[0]!.map((b) => b.text)).toEqual(['⚠️ Confirm s0', '↩️ Back']);
    const old = renderList({ title: 'Pending', members, view: 'summary', confirming: null, superseded: true }, refOf, buttonsFor, 'LIST');
    expect(old.buttons).toEqual([]);
    expect(old.text).toMatch(/Superseded by a newer list/);
  });
});
