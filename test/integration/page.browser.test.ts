// The page in headless Chromium (Debian's, driven by playwright-core): what a person sees.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFixture, restartDraft, XSS, type ApiFixture } from '../support/api-fixture.js';
import { removeDir, tempDir } from '../support/helpers.js';
import { report } from '../support/soak.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true') throw new Error(`Chromium is required in CI: ${CHROMIUM} not found (apt-get install -y chromium)`);
  console.warn(`skipping browser tests: ${CHROMIUM} not found (apt-get install -y chromium)`);
}

let root: string;
let f: ApiFixture;
let browser: Browser;
let base: string;

describe.skipIf(!haveChromium)('the page in a browser', () => {
  beforeAll(async () => {
    root = await tempDir('hcp-page-');
    f = await apiFixture(root);
    const z = await f.actions.create(restartDraft('zigbee2mqtt'));
    await f.evidence.write({
      version: 1, id: z!.id, instance: z!.instance, node: z!.node, service: z!.service, collected_at: new Date().toISOString(),
      containers: [{ name: 'zigbee2mqtt', state: 'exited', exit_code: 137, oom_killed: true, restart_count: 3, started_at: null, finished_at: null, health: null, image: 'koenkk/zigbee2mqtt', image_id: 'sha256:1', logs: ['2026-05-27T14:00:00Z Error: ENOMEM', `2026-05-27T14:00:01Z ${'x'.repeat(400)}`], logs_truncated: false }],
    });
    base = await f.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await f?.app.close();
    await removeDir(root);
  });

  it('lists the services with the unhealthy one highlighted; hostile names stay text and run nothing', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const dialogs: string[] = [];
    const errors: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${base}/`);
    const rows = page.locator('#services tbody tr');
    expect(await rows.count()).toBe(6);
    const z2m = page.locator('tr[data-key="chelsty-infra/zigbee2mqtt"]');
    const mosq = page.locator('tr[data-key="chelsty-infra/mosquitto"]');
    expect(await z2m.getAttribute('class')).toBe('bad');
    const bg = (loc: typeof z2m) => loc.locator('td').first().evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(await bg(z2m)).not.toBe(await bg(mosq));
    // Unhealthy rows come first.
    const firstKeys = await rows.evaluateAll((trs) => trs.slice(0, 2).map((tr) => tr.getAttribute('data-key')));
    expect(firstKeys.sort()).toEqual([`${XSS[0]}/${XSS[0]}`, 'chelsty-infra/zigbee2mqtt'].sort());
    const text = await page.locator('#services').innerText();
    for (const x of XSS) expect(text).toContain(x);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(1);
    expect(dialogs).toEqual([]);
    expect(errors.filter((e) => /alert|onerror|img/.test(e))).toEqual([]);
    expect(await page.locator('text=container-restart-chelsty-infra-zigbee2mqtt').count()).toBe(1);
    await ctx.close();
    report('xss_in_browser', { payloads: XSS.length, dialogs: dialogs.length, injected_elements: 0, failures: 0 });
  });

  it('an open action folds out to its evidence: the facts, then the last log lines (wrapped, no sideways scroll)', async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await ctx.newPage();
    await page.goto(`${base}/`);
    const summary = page.locator('tr.evidence summary');
    expect(await summary.innerText()).toMatch(/exit 137 · OOM-killed · 3 restarts/);
    const pre = page.locator('tr.evidence pre');
    expect(await pre.isVisible()).toBe(false);
    await summary.click();
    expect(await pre.isVisible()).toBe(true);
    expect(await pre.innerText()).toContain('Error: ENOMEM');
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await ctx.close();
  });

  it('"Copy for AI" puts /ai-context on the clipboard', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await ctx.newPage();
    await page.goto(`${base}/`);
    await page.click('#copy-ai');
    await page.waitForFunction(() => document.getElementById('copy-ai')?.textContent === 'Copied ✓');
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    const expected = await (await fetch(`${base}/ai-context`)).text();
    expect(clip).toBe(expected);
    expect(clip).toMatch(/^# Homelab state/);
    await ctx.close();
  });

  it('looks right at phone and desktop width (screenshots)', async () => {
    const out = process.env.SCREENSHOT_DIR ?? path.join(root, 'shots');
    await mkdir(out, { recursive: true });
    for (const [name, viewport] of [
      ['page-phone.png', { width: 390, height: 844 }],
      ['page-desktop.png', { width: 1280, height: 900 }],
    ] as const) {
      const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
      const page = await ctx.newPage();
      await page.goto(`${base}/`);
      // Nothing may be wider than the screen.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await page.screenshot({ path: path.join(out, name), fullPage: true });
      expect(existsSync(path.join(out, name))).toBe(true);
      await ctx.close();
    }
  });

  it('what an operator sees in the first hour: missing and unknown counted in the header, a node with nothing watched not red, no horizontal scroll at 1280 px', async () => {
    const r2 = await tempDir('hcp-page2-');
    const g = await apiFixture(r2, {
      hostile: false,
      world: (w) => {
        w.services['chelsty-infra/zigbee2mqtt'] = { ...w.services['chelsty-infra/zigbee2mqtt']!, status: 'healthy', reason: null };
        w.services['piha/webui'] = { ...w.services['piha/webui']!, status: 'unknown', reason: 'engine_unreachable' };
        w.nodes.piha = { ...w.nodes.piha!, engine: 'unreachable' };
        return w;
      },
      desired: (d) => ({
        ...d,
        'chelsty-infra': { ...d['chelsty-infra']!, services: { ...d['chelsty-infra']!.services, grafana: { node: 'chelsty-infra', service: 'grafana', containers: ['grafana'], monitor: true, auto_approve: false } } },
        media: { node: 'media', docker: { socket: '/var/run/docker.sock' }, services: { jellyfin: { node: 'media', service: 'jellyfin', containers: ['jellyfin'], monitor: false, auto_approve: false } } },
      }),
    });
    // A failed action whose error is one long word (a path, an image digest): it must wrap.
    const a = await g.actions.create(restartDraft('mosquitto'));
    await g.actions.transition({ id: a!.id, from: 'pending', to: 'approved', by: 'test' });
    await g.actions.transition({ id: a!.id, from: 'approved', to: 'running', by: 'test' });
    await g.actions.transition({ id: a!.id, from: 'running', to: 'failed', by: 'test', patch: { error: `cannot reach ${'/very/long/path/'.repeat(30)}docker.sock` } });
    const url = await g.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(`${url}/`);
      const counts = await page.locator('#counts').innerText();
      expect(counts).toMatch(/1 missing/);
      expect(counts).toMatch(/1 unknown/);
      expect(counts).not.toMatch(/0 unhealthy/);
      const media = page.locator('.card[data-node="media"]');
      expect(await media.innerText()).toMatch(/no services watched/);
      expect(await media.locator('.badtxt').count()).toBe(0);
      expect(await page.locator('.card[data-node="piha"]').innerText()).toMatch(/engine unreachable/);
      expect(await page.locator('tr[data-key="piha/webui"] td').nth(1).innerText()).toBe('unknown');
      expect(await page.locator('tr[data-key="chelsty-infra/grafana"] td').nth(1).innerText()).toBe('missing');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await ctx.close();
    } finally {
      await g.app.close();
      await removeDir(r2);
    }
  });
});
