import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActionStore, TransitionError } from '../../src/store/actions.js';
import { actionDraft, removeDir, tempDir } from '../support/helpers.js';

let root: string;
let store: ActionStore;
let clock = Date.parse('2026-05-27T14:00:00.000Z');

const draft = actionDraft;
const names = async (state: string) => (await readdir(path.join(root, state))).sort();

beforeEach(async () => {
  root = await tempDir('hcp-store-');
  store = new ActionStore(root, () => clock);
  await store.ensureDirs();
});
afterEach(async () => {
  await removeDir(root);
});

describe('ActionStore', () => {
  it('a transition refused while another holds the action says where that one takes it, not "gone"', async () => {
    await store.create(draft());
    // Another transition has claimed it for approved/ and not published it yet.
    await rename(path.join(root, 'pending', 'container-restart-n-s.json'), path.join(root, 'approved', '.container-restart-n-s.0badc0de.claim'));
    const err = await store.transition({ id: 'container-restart-n-s', from: 'pending', to: 'rejected', by: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransitionError);
    expect(err).toMatchObject({ code: 'wrong_state', current: { state: 'approved' } });
  });

  it('never writes an open id twice', async () => {
    expect(await store.create(draft())).toBeDefined();
    expect(await store.create(draft())).toBeUndefined();
    await store.transition({ id: 'container-restart-n-s', from: 'pending', to: 'approved', by: 't' });
    expect(await store.create(draft())).toBeUndefined();
    expect(await names('pending')).toEqual([]);
  });

  it('keeps every terminal instance; a repeated instance gets a suffix, never overwrites', async () => {
    for (let i = 0; i < 3; i++) {
      const a = await store.create(draft());
      await store.transition({ id: a!.id, from: 'pending', to: 'cancelled', by: 't', patch: { cancel_reason: 'drift_resolved_auto' } });
    }
    expect(await names('cancelled')).toEqual([
      'container-restart-n-s@20260527T140000Z-1.json',
      'container-restart-n-s@20260527T140000Z-2.json',
      'container-restart-n-s@20260527T140000Z.json',
    ]);
  });

  it('a button of an older instance changes nothing', async () => {
    const a = await store.create(draft());
    await store.transition({ id: a!.id, from: 'pending', to: 'cancelled', by: 't' });
    const b = await store.create(draft({ instance: '20260527T141000Z' }));
    const err = await store.transition({ id: b!.id, from: 'pending', to: 'approved', by: 't', instance: a!.instance }).catch((e) => e);
    expect(err).toBeInstanceOf(TransitionError);
    expect(err.code).toBe('stale_instance');
    expect(await names('pending')).toEqual(['container-restart-n-s.json']);
    expect(await names('approved')).toEqual([]);
  });

  it('says what state an action is in when the move is no longer possible', async () => {
    const a = await store.create(draft());
    await store.transition({ id: a!.id, from: 'pending', to: 'rejected', by: 't' });
    const err = await store.transition({ id: a!.id, from: 'pending', to: 'approved', by: 't' }).catch((e) => e);
    expect(err.code).toBe('wrong_state');
    expect(err.current.state).toBe('rejected');
    await expect(store.transition({ id: a!.id, from: 'completed', to: 'pending', by: 't' })).rejects.toThrow(/cannot move/);
  });

  it('finishes claims a crash left behind, before and after the rewrite', async () => {
    const a = await store.create(draft());
    // Crash right after the claim rename: content still says pending, the directory says approved.
    await rename(path.join(root, 'pending', `${a!.id}.json`), path.join(root, 'approved', `.${a!.id}.0badc0de.claim`));
    // A second action whose claim was rewritten but not published.
    const b = await store.create(draft({ id: 'redeploy-n-t', service: 't', type: 'redeploy', risk: 'guarded' }));
    const rewritten = { ...b!, state: 'rejected', history: [...b!.history, { state: 'rejected', at: b!.created_at, by: 'cli:x' }] };
    await rename(path.join(root, 'pending', 'redeploy-n-t.json'), path.join(root, 'rejected', '.redeploy-n-t.deadbeef.claim'));
    await writeFile(path.join(root, 'rejected', '.redeploy-n-t.deadbeef.claim'), JSON.stringify(rewritten));
    await writeFile(path.join(root, 'running', '.x.json.1.abcd.tmp'), 'half');
    const done = await store.recover();
    expect(done.length).toBe(3);
    const approved = JSON.parse(await readFile(path.join(root, 'approved', `${a!.id}.json`), 'utf8'));
    expect(approved).toMatchObject({ state: 'approved', approved_by: { via: 'recovery' } });
    expect(await names('rejected')).toEqual([`redeploy-n-t@${b!.instance}.json`]);
    for (const s of ['pending', 'approved', 'running', 'rejected']) expect((await names(s)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('adopts a hand-made mv as a transition by file, and ignores an illegal one', async () => {
    const a = await store.create(draft());
    await rename(path.join(root, 'pending', `${a!.id}.json`), path.join(root, 'approved', `${a!.id}.json`));
    expect(await store.adoptMoved()).toEqual([`adopted ${a!.id}: pending → approved by file`]);
    expect(JSON.parse(await readFile(path.join(root, 'approved', `${a!.id}.json`), 'utf8'))).toMatchObject({ state: 'approved', approved_by: { via: 'file' } });
    await rename(path.join(root, 'approved', `${a!.id}.json`), path.join(root, 'completed', `${a!.id}.json`));
    expect((await store.adoptMoved())[0]).toMatch(/not a legal move/);
  });

  it('skips files that are not actions: garbage, symlinks, directories', async () => {
    await writeFile(path.join(root, 'pending', 'garbage.json'), '{nope');
    await writeFile(path.join(root, 'pending', 'other.json'), '{"id":"x"}');
    const { symlink, mkdir } = await import('node:fs/promises');
    await symlink('/etc/passwd', path.join(root, 'pending', 'link.json'));
    await mkdir(path.join(root, 'pending', 'dir.json'));
    expect(await store.list('pending')).toEqual([]);
  });

  it('sees a file rewritten in place or replaced, although reads are cached', async () => {
    const a = (await store.create(draft()))!;
    const file = path.join(root, 'pending', 'container-restart-n-s.json');
    expect((await store.list('pending'))[0]!.risk).toBe('low');
    // Same inode, same length, new content (an editor saving in place).
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('"risk": "low"', '"risk": "guarded"'));
    expect((await store.list('pending'))[0]!.risk).toBe('guarded');
    // Replaced by rename (a new inode), and then made unreadable.
    await writeFile(`${file}.new`, JSON.stringify({ ...a, containers: ['s', 's-sidecar'] }));
    await rename(`${file}.new`, file);
    expect((await store.list('pending'))[0]!.containers).toEqual(['s', 's-sidecar']);
    await writeFile(file, '{ not json');
    expect(await store.list('pending')).toEqual([]);
    expect(await store.get(a.id)).toBeUndefined();
  });

  it('hands out actions callers cannot change under the cache', async () => {
    await store.create(draft());
    const [a] = await store.list('pending');
    expect(Object.isFrozen(a)).toBe(true);
    expect(() => {
      (a as { risk: string }).risk = 'high';
    }).toThrow();
    expect((await store.list('pending'))[0]!.risk).toBe('low');
  });

  it('a crash between publishing a claim and removing it leaves one file, not a duplicate', async () => {
    const a = (await store.create(draft()))!;
    // What transition() had done when the process died: claim renamed in, rewritten, linked
    // under its final name — and the claim not yet unlinked.
    const claim = path.join(root, 'approved', `.${a.id}.0a1b2c3d.claim`);
    await rename(path.join(root, 'pending', `${a.id}.json`), claim);
    await writeFile(claim, JSON.stringify({ ...a, state: 'approved', history: [...a.history, { state: 'approved', at: a.created_at, by: 't' }] }));
    const { link } = await import('node:fs/promises');
    await link(claim, path.join(root, 'approved', `${a.id}.json`));
    await store.recover();
    expect(await names('approved')).toEqual([`${a.id}.json`]);
    expect((await store.get(a.id))!.state).toBe('approved');
  });
});
