// The help texts: `control-plane --help` and each command's `--help` (tests keep them as they are).
export const USAGE = `control-plane — keeps a homelab's Docker services in their desired state

Usage: control-plane <command> [options]

Commands:
  run        run the control plane (observer and loops) until stopped
  check      validate every hosts/<node>/services.yaml
  replay     rebuild world state from all events, offline
  observe    bring world state up to date from the checkpoint, then exit (--once)
  actions    list, show, approve or reject actions; confirm a held bulk removal
  agent      the node agent: watch this node's Docker Engine and disks, write events
  mirror     copy another control plane's world state every few seconds
  silence    silence proposals for a node or a service for a while
  maintenance  start, stop or list maintenance of a node or a service (quiet, nothing proposed)
  logs       the last log lines of a service's containers (read-only)
  updates    check for newer images now; list what the last checks found; skip a version
  hosts      trust a node's SSH host key (pinned in SSH_KNOWN_HOSTS)
  nats       the events stream at NATS: what it keeps, how far each consumer read; one message;
             import the actions of the files into NATS KV

Run 'control-plane <command> --help' for a command's options; 'control-plane --version' for the version.
Lists and checks print aligned tables, or JSON with -o json. Exit codes: 0 ok; 1 the operation
failed or problems were found; 2 a usage or configuration error.
Configuration comes from the environment; docs/operator/configuration.md lists every variable.`;

export const HELP: Record<string, string> = {
  run: `Usage: control-plane run

Runs the observer and every loop until SIGINT or SIGTERM. Reads HOMELAB_ROOT (default
./var/homelab) and HOSTS_DIR (default ./hosts). Telegram is on when TELEGRAM_BOT_TOKEN is set.`,
  check: `Usage: control-plane check [--hosts DIR] [-o table|json]

Validates every <DIR>/<node>/services.yaml (default: HOSTS_DIR or ./hosts).
Exit 0 when all are valid (an empty directory is a warning); otherwise exit 1 and print
file:line[:column]: reason for each problem.`,
  replay: `Usage: control-plane replay

Rebuilds world/services.json, world/nodes.json and the observer checkpoint from the events
snapshot (state/events_snapshot.json: the days retention removed) and every event under
HOMELAB_ROOT/events, ignoring the old checkpoint. Refuses while 'run' is running on the
same HOMELAB_ROOT. Prints what it did: events applied, malformed lines, nodes, services, seconds.`,
  observe: `Usage: control-plane observe --once

Resumes from the observer checkpoint, reads every event not read yet, publishes world state and
exits. Refuses while 'run' is running on the same HOMELAB_ROOT.`,
};

HELP.logs = `Usage: control-plane logs <node>/<service> [--lines N]

Reads the last N (default LOG_TAIL_LINES, at most 200) log lines of each container
hosts/<node>/services.yaml names for the service, from that node's Docker Engine, with the
container's state, exit code, OOM kill, restarts and health. Read-only; secrets are redacted.
Anything services.yaml does not name is refused without asking the engine.
Exit 0 read; 1 the engine could not be asked; 2 usage (or not a service services.yaml names).`;

HELP.updates = `Usage:
  control-plane updates check [<node>[/<service>]] [-o table|json]   ask the registries now
  control-plane updates list [-o table|json]                          what the last checks found
  control-plane updates skip <node>/<service> [--by NAME]             never propose the newer image found for it

A service is checked when services.yaml watches it and its updates: (or its node's
docker.updates) is notify, approve or auto. 'check' reads each container's image and local digest
from the node's engine and asks the image's registry what its tag names now (HEAD, so Docker Hub
does not count a pull), then writes HOMELAB_ROOT/world/updates.json; a running control plane
proposes what it finds at once. Registry credentials come from DOCKER_CONFIG/config.json;
INSECURE_REGISTRIES lists registries spoken to over plain HTTP (loopback ones always are).
Exit 0 checked (newer images or not); 1 a service could not be checked; 2 usage or configuration.`;
HELP['updates check'] = HELP.updates;
HELP['updates list'] = HELP.updates;
HELP['updates skip'] = HELP.updates;

HELP.hosts = `Usage: control-plane hosts trust <node> [--yes]

Connects to the ssh:// target of hosts/<node>/services.yaml, stops in the key exchange (nothing
is authenticated or run), prints the host key's type and SHA256 fingerprint, and after a y/N
question adds it to SSH_KNOWN_HOSTS (default HOMELAB_ROOT/ssh/known_hosts). Compare the
fingerprint with the node's own first: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there.
--yes adds it without asking (for scripts). A key that differs from the one listed is never
replaced: the line must be removed by hand after checking the node.
Exit 0 trusted (or already); 1 not added (declined, changed, revoked, unreachable); 2 usage.`;
HELP['hosts trust'] = HELP.hosts;

HELP.actions = `Usage:
  control-plane actions list [--state S[,S…]] [-o table|json]   open actions, or those in the states given
  control-plane actions show <id> [-o table|json]              the open instance of <id>, or its newest finished one
  control-plane actions approve <id> [--by NAME] [--yes]       approve a pending action (the executor runs it)
  control-plane actions reject <id> [--by NAME]                reject a pending action
  control-plane actions confirm-removal <node>                 let a held bulk removal of <node>'s services proceed

States: pending, approved, running, completed, failed, rejected, cancelled; also open (the first
three) and all. Approving by hand works too: mv actions/pending/<id>.json actions/approved/
Exit 0 done; 1 the operation failed (not pending any more, no such action, nothing held); 2 usage
or configuration. Run 'control-plane actions <command> --help' for one command.`;
HELP['actions list'] = `Usage: control-plane actions list [--state S[,S…]] [-o table|json] [--json]

Lists actions in the states given (default: open = pending, approved, running), newest change
first, as an aligned table with a header, or as a JSON array. States: pending, approved, running,
completed, failed, rejected, cancelled, open, all; several separated by commas.`;
HELP['actions show'] = `Usage: control-plane actions show <id> [-o table|json] [--json]

Prints the open instance of <id>, or its newest finished one: what it does, its state, and its
history. Exit 1 when there is no such action.`;
HELP['actions approve'] = `Usage: control-plane actions approve <id> [--by NAME] [--yes]

Approves a pending action; the executor carries it out at once. A guarded action (redeploy,
disk_cleanup) asks for confirmation on a terminal; --yes answers it (for scripts). Exit 1 with the
action's current state when it is not pending any more.`;
HELP['actions reject'] = `Usage: control-plane actions reject <id> [--by NAME]

Rejects a pending action. Its id is not proposed again until its cooldown runs out. Exit 1 with
the action's current state when it is not pending any more.`;
HELP['actions confirm-removal'] = `Usage: control-plane actions confirm-removal <node>

A services.yaml change that removes many services at once is held until an operator confirms it.
This confirms the removal held for <node>; exit 1 when nothing is held for it.`;
HELP.silence = `Usage:
  control-plane silence add <node>[/<service>] <duration> [--reason TEXT] [--by NAME]
  control-plane silence list [-o table|json]
  control-plane silence rm <id | node[/service]>

While a silence lasts no action is proposed for that node or service; world state is still
recorded. Durations: 30m, 2h, 1d, 1h30m. The node and service must be in hosts/ (HOSTS_DIR);
adding a silence for a target that has one extends it. Exit 1 when the target is unknown or
there is nothing to remove.`;
HELP.maintenance = `Usage:
  control-plane maintenance start <node>[/<service>] --for DURATION [--reason TEXT] [--by NAME]
  control-plane maintenance stop <id | node[/service]>
  control-plane maintenance list [-o table|json]

During maintenance the world is still observed and recorded, but nothing is proposed or approved
by policy (image updates of updates: auto go ahead) and the chat hears one notice when it starts
and one when it ends, with what happened meanwhile; what still drifts then is proposed at once.
Windows that recur belong in services.yaml (maintenance:, docs/operator/maintenance.md); these
are ad hoc. Durations: 30m, 2h, 1d. Exit 1 when the target is unknown or nothing is stopped.`;
HELP['maintenance start'] = HELP.maintenance;
HELP['maintenance stop'] = HELP.maintenance;
HELP['maintenance list'] = HELP.maintenance;
HELP['silence add'] = HELP.silence;
HELP['silence list'] = HELP.silence;
HELP['silence rm'] = HELP.silence;
HELP.agent = `Usage: control-plane agent --node NAME [options]

Watches this node's Docker Engine (event stream, plus an inspection every interval) and disks,
and writes events: service_healthy / service_recovered, containers_not_running,
healthcheck_failed, container_restarting, disk_pressure, node_heartbeat.

Options (each also an environment variable):
  --node NAME          AGENT_NODE          the node's name, as in hosts/<node>/
  --services FILE      AGENT_SERVICES      services.yaml to watch (default HOSTS_DIR/<node>/services.yaml)
  --events-dir DIR     AGENT_EVENTS_DIR    write events here (default HOMELAB_ROOT/events) ...
  --push URL           AGENT_PUSH_URL      ... or push them to http://<control plane>:18180/ingest/events
  --token TOKEN        AGENT_TOKEN         this node's token from the control plane's INGEST_TOKENS
  --interval 30s       AGENT_INTERVAL_S    inspection and heartbeat interval (seconds)
  --disk-paths /,/srv  AGENT_DISK_PATHS    paths whose file systems are watched (high at >= 90 % used,
                                           normal again below 85 %)
  --docker-socket P    AGENT_DOCKER_SOCKET this node's engine (default /var/run/docker.sock)
  --state-dir DIR      AGENT_STATE_DIR     seq counter, last statuses and the push spool
                                           (default HOMELAB_ROOT/agent/<node>)
  --once                                   one inspection, then exit`;
HELP.mirror = `Usage: control-plane mirror --from URL --to DIR [--every 10s] [--once]

Copies URL/world/services.json and URL/world/nodes.json into DIR every 10 s (with ETags, so an
unchanged world costs a 304), writing atomically and only on change. When the source is down or
answers something that is not a world file, the last good copy stays.`;

HELP.nats = `Usage: control-plane nats status [-o json]
       control-plane nats message <seq> [-o json]
       control-plane nats import

With NATS_URL (and its credentials) set: status prints the stream HOMELAB_EVENTS (messages, bytes,
first and last sequence, replicas, how long it keeps them) and each control plane's consumer
(pending, awaiting acknowledgement, delivered, acknowledged). message prints one message by its
stream sequence (a refused one is named in the log by it) and whether it is an event its node
may send. import copies every action of the files (open and finished) into the bucket
HOMELAB_ACTIONS, where the actions are with NATS_URL set: run it once, the control plane stopped,
when an install moves to NATS; an action the bucket holds is not brought twice. Exit 1 when NATS
cannot be reached, there is no such stream or message, or an open action's id is open in the
bucket already (named; not imported).`;

export function help(command?: string): number {
  process.stdout.write(`${command ? HELP[command] : USAGE}\n`);
  return 0;
}
