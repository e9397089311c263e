// The import rules of ARCHITECTURE.md ("Who may import whom"), checked by `npm run lint`.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'pure-domain',
      comment: 'domain/ holds pure rules: it imports only itself, errors and (types of) nothing else',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/', pathNot: ['^src/domain/', '^src/errors\\.ts$'] },
    },
    {
      name: 'time-and-errors-stand-alone',
      comment: 'time/ and errors.ts are imported by everything and import no other layer',
      severity: 'error',
      from: { path: ['^src/time/', '^src/errors\\.ts$'] },
      to: { path: '^src/', pathNot: ['^src/time/', '^src/errors\\.ts$'] },
    },
    {
      name: 'store-below-the-loops',
      comment: 'store/ is the filesystem: it imports domain, errors, time, log — not docker, loops, bot, api, app',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: ['^src/(docker|loops|bot|api|app|agent|mirror|cli)/', '^src/(main|cli|config|status)\\.ts$'] },
    },
    {
      name: 'nats-below-the-loops',
      comment: 'nats/ carries events over NATS JetStream: it writes through store, never loops, bot, api, app or docker',
      severity: 'error',
      from: { path: '^src/nats/' },
      to: { path: ['^src/(docker|loops|bot|api|app|agent|mirror|cli)/', '^src/(main|cli|config|status)\\.ts$'] },
    },
    {
      name: 'docker-below-the-loops',
      comment: 'docker/ talks to engines and registries: it imports domain, errors, time, log — not store, loops, bot, api, app',
      severity: 'error',
      from: { path: '^src/docker/' },
      to: { path: ['^src/(store|loops|bot|api|app|agent|mirror|cli)/', '^src/(main|cli|config|status)\\.ts$'] },
    },
    {
      name: 'config-reads-the-environment-only',
      comment: 'config.ts validates the environment; credentials files are docker/\'s, directories store/\'s',
      severity: 'error',
      from: { path: '^src/config(-nats)?\\.ts$' },
      to: { path: '^src/', pathNot: ['^src/domain/', '^src/errors\\.ts$', '^src/config(-nats)?\\.ts$'] },
    },
    {
      name: 'bot-and-api-reach-docker-through-loops',
      comment: 'the bot and the API never talk to an engine: the inspector (loops/) does',
      severity: 'error',
      from: { path: ['^src/bot/', '^src/api/'] },
      to: { path: '^src/docker/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'loops-not-above',
      comment: 'loops/ run passes over store/ and docker/: they import neither bot, api, app nor the roots',
      severity: 'error',
      from: { path: '^src/loops/' },
      to: { path: ['^src/(bot|api|app|cli|agent|mirror)/', '^src/(main|cli)\\.ts$'] },
    },
    {
      name: 'nothing-imports-the-roots',
      comment: 'main.ts is imported by the CLI\'s run only; cli.ts by nobody',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/cli/run\\.ts$'] },
      to: { path: ['^src/main\\.ts$', '^src/cli\\.ts$'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment: 'a module nothing imports is dead (the entry points aside)',
      severity: 'error',
      from: { orphan: true, path: '^src/', pathNot: ['^src/cli\\.ts$', '\\.d\\.ts$'] },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};

