import { defineConfig } from 'vitest/config';
import { SurvivorsLastSequencer } from './test/support/sequencer.js';

export default defineConfig({
  test: {
    sequence: { sequencer: SurvivorsLastSequencer },
    projects: [
      // Unit tests wait for conditions, never for time; on a loaded 2-core machine a test that does
      // real file writes can take longer than vitest's default 5 s without anything being wrong.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', testTimeout: 30_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
      {
        // Tests against the real Docker Engine (only with HOMELAB_TEST_DOCKER=1) run one file at a
        // time. The global setup leaves an operator's stopped container and dangling image on the
        // engine; survivors.test.ts, run last, fails if any test removed them.
        test: {
          name: 'docker',
          globalSetup: ['test/support/docker-survivors.ts'],
          include: ['test/docker/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 180_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
