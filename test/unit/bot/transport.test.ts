// The keyboard the transport sends: never more than Telegram's 100 buttons, never an empty one.
import { describe, expect, it } from 'vitest';
import { keyboard, MAX_BUTTONS } from '../../../src/bot/transport.js';
import { memoryLogger } from '../../support/helpers.js';

describe('keyboard', () => {
  it('no buttons (or only empty rows): no keyboard at all, never [[]]', () => {
    expect(keyboard([])).toBeUndefined();
    expect(keyboard([[], []])).toBeUndefined();
  });

  it('cuts at 100 buttons by whole rows, and says so', () => {
    const mem = memoryLogger();
    const rows = Array.from({ length: 60 }, (_, i) => [{ text: `a${i}`, data: `ap:a${i}` }, { text: `r${i}`, data: `rj:a${i}` }]);
    const kb = keyboard(rows, mem.log)!;
    expect(kb.inline_keyboard.flat()).toHaveLength(MAX_BUTTONS);
    expect(kb.inline_keyboard.every((r) => r.length === 2)).toBe(true);
    expect(mem.text()).toMatch(/more than 100 buttons/);
  });
});
