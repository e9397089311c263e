// An action's message has a budget: whatever the length and script of its variable parts (an
// engine error, the evidence, a note, names), the title, the state line and the buttons survive,
// and the message fits one Telegram message after entity parsing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { plainText } from '../../../src/bot/html-split.js';
import { buttonsFor } from '../../../src/bot/callback-data.js';
import { cap, MAX_TEXT, PART_MAX, renderAction, renderDetails, renderGroup, shorten, splitText, stateLine } from '../../../src/bot/render.js';
import { renderSilences } from '../../../src/bot/render-replies.js';
import type { Evidence } from '../../../src/store/evidence.js';

const data = buttonsFor('REF');
const NOW = Date.parse('2026-05-27T14:05:00.000Z');
const base: Action = {
  id: 'redeploy-n1-webui',
  instance: '20260527T140000Z',
  type: 'redeploy',
  risk: 'guarded',
  node: 'n1',
  service: 'webui',
  drift: 'unhealthy_service',
  trigger: 'healthcheck_failed',
  state: 'pending',
  created_at: '2026-05-27T14:00:00.000Z',
  updated_at: '2026-05-27T14:00:00.000Z',
  started_at: '2026-05-27T14:01:00.000Z',
  finished_at: '2026-05-27T14:02:00.000Z',
  history: [],
};

const pieces = ['a', 'Z', ' ', '\n', '<', '>', '&', '"', '&amp;', '😀', '👩‍💻', '中文', 'ü', 'é', '\u200d', 'x'.repeat(50), '<b>', '</b>'];
const anyText = fc.array(fc.constantFrom(...pieces), { maxLength: 3000 }).map((xs) => xs.join(''));
const evidenceOf = (text: string, n: number): Evidence => ({
  version: 1,
  id: base.id,
  instance: base.instance,
  node: 'n1',
  service: 'webui',
  collected_at: '2026-05-27T14:00:30.000Z',
  containers: Array.from({ length: n }, (_, i) => ({
    name: `c${i}`,
    state: 'exited',
    exit_code: 1,
    oom_killed: false,
    restart_count: 3,
    started_at: null,
    finished_at: null,
    health: { status: 'unhealthy', failing_streak: 5, last_output: text },
    image: 'img',
    image_id: 'sha256:1',
    logs: ['x'],
    logs_truncated: false,
  })) as unknown as Evidence['containers'],
  ...(n === 0 ? { error: text } : {}),
});

const LABEL: Record<Action['state'], string> = {
  pending: '<b>Pending</b>',
  approved: '<b>Approved</b>',
  running: '<b>Running</b>',
  completed: '<b>Completed</b>',
  failed: '<b>Failed</b>',
  rejected: '<b>Rejected</b>',
  cancelled: '<b>Cancelled</b>',
};

describe('an action message within its budget', () => {
  it('a 10 000-character emoji engine error: the failed state line survives, the message fits, Details offered', () => {
    const error = '💥'.repeat(5000);
    const r = renderAction({ ...base, state: 'failed', error }, data, { now: NOW, evidence: evidenceOf('🔥'.repeat(5000), 0) });
    expect(plainText(r.text).length).toBeLessThanOrEqual(MAX_TEXT);
    expect(r.text).toContain('❌ <b>Failed</b> in 60.0 s: 💥');
    expect(r.buttons).toEqual([[{ text: '📄 Details', data: 'dt:REF' }]]);
    // The whole error is behind the button, split into messages Telegram accepts.
    const parts = splitText(renderDetails({ ...base, state: 'failed', error }));
    expect(parts.map((p) => plainText(p)).join('')).toContain(error);
    for (const p of parts) expect(plainText(p).length).toBeLessThanOrEqual(MAX_TEXT);
  });

  it('a running action whose stop waits for it says so under its state line', () => {
    const r = renderAction({ ...base, state: 'running' }, data, { now: NOW, stopping: { waitingFor: 'the step after "stopped webui (abc)"', graceS: 25 } });
    expect(r.text).toContain('⚙️ <b>Running</b>');
    expect(r.text).toMatch(/⏳ stopping: the control plane waits for the step after &quot;stopped webui \(abc\)&quot;|⏳ stopping: the control plane waits for the step after "stopped webui \(abc\)" \(at most SHUTDOWN_GRACE_S, 25 s\)/);
    expect(renderAction({ ...base, state: 'failed', error: 'interrupted' }, data, { now: NOW, stopping: { waitingFor: 'x', graceS: 25 } }).text).not.toContain('stopping');
  });

  it('a silence shows the time left; a group of one says "1 action"', () => {
    const until = new Date(NOW + 2 * 3600_000).toISOString();
    const r = renderSilences([{ id: 's1', target: 'n1/webui', until, reason: 'upgrade', created_at: new Date(NOW).toISOString(), by: 'x' } as never], NOW, () => 'sr:x');
    expect(r.text).toContain('(2h left)');
    expect(renderSilences([{ id: 's1', target: 'n1', until: new Date(NOW + 45_000).toISOString() } as never], NOW, () => 'sr:x').text).toContain('(45s left)');
    expect(renderGroup('n1', [base], data).text).toContain('1 action on n1</b>');
    expect(renderGroup('n1', [base, { ...base, id: 'x' }], data).text).toContain('2 actions on n1</b>');
  });

  it('a group renders only the member lines that fit: shortened, it says what the group with every line says', () => {
    const states = ['pending', 'approved', 'running', 'completed', 'failed'] as const;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1200 }), fc.string({ maxLength: 40 }), fc.nat(), (n, tag, seed) => {
        const members = Array.from({ length: n }, (_, i): Action => ({ ...base, id: `container-restart-n${i}-${tag}&<${i}>`, state: states[(seed + i) % states.length]!, risk: i % 3 ? 'low' : 'medium' }));
        const all = renderGroup('n1, n2', members, data, Infinity);
        const fit = renderGroup('n1, n2', members, data);
        expect(shorten(fit.text, 'http://x/')).toBe(shorten(all.text, 'http://x/'));
        expect(fit.buttons).toEqual(all.buttons);
        expect(plainText(fit.text).length).toBeLessThan(MAX_TEXT + 1000);
      }),
      { numRuns: 60 },
    );
  });

  it('cap never splits a surrogate pair and marks the cut', () => {
    expect(cap('😀'.repeat(400))).toMatch(/^(😀)+…$/);
    expect(cap('😀'.repeat(400)).length).toBeLessThanOrEqual(PART_MAX);
    expect(cap('short')).toBe('short');
  });

  it('holds over random lengths, scripts and states (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Action['state']>('pending', 'approved', 'running', 'completed', 'failed', 'rejected', 'cancelled'),
        fc.constantFrom<Action['type']>('container_restart', 'redeploy', 'image_update', 'disk_cleanup'),
        anyText,
        anyText,
        anyText,
        anyText,
        fc.integer({ min: 0, max: 12 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 40 }),
        (state, type, error, note, evidenceText, who, containers, confirming, images) => {
          const a: Action = {
            ...base,
            type,
            risk: type === 'container_restart' ? 'low' : 'guarded',
            state,
            error,
            cancel_reason: note,
            approved_by: { via: 'telegram', name: who },
            rejected_by: { via: 'telegram', name: who },
            verified: true,
            verification: { verified: true, note },
            result: { containers: Array.from({ length: containers }, (_, i) => ({ container: `${who.slice(0, 20)}${i}` })) },
            ...(type === 'image_update'
              ? { update: { images: Array.from({ length: Math.max(1, images) }, (_, i) => ({ image: `${who}:${i}`, repository: 'r', tag: 't', containers: ['c'], from_digest: `sha256:${'a'.repeat(64)}`, to_digest: `sha256:${'b'.repeat(64)}`, version: note, source: `https://example.test/${evidenceText}` })) } }
              : {}),
          };
          const r = renderAction(a, data, { now: NOW, confirming, evidence: evidenceOf(evidenceText, containers) });
          const plain = plainText(r.text);
          expect(plain.length).toBeLessThanOrEqual(MAX_TEXT);
          expect(splitText(r.text)).toHaveLength(1);
          expect(r.text).toContain(LABEL[state]);
          expect(r.text).toContain(stateLine(a).split('\n')[0]!.slice(0, 40));
          const ops = r.buttons.flat().map((b) => b.data.slice(0, 2));
          if (state === 'pending') expect(ops.slice(0, 2)).toEqual(confirming && a.risk === 'guarded' ? ['cf', 'bk'] : ['ap', 'rj']);
          else expect(ops.filter((o) => o !== 'dt')).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
