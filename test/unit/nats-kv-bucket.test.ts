// How many replicas a compare-and-set bucket gets: as the cluster allows, except on servers before
// 2.9.21, whose clustered streams could accept two writes over one revision (nats-server#4320).
import type { NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { bucketReplicas, bucketReplicasNote, replicasOf } from '../../src/nats/kv-bucket.js';

const conn = (version: string, servers = 3, cluster: string | undefined = 'homelab') => ({ info: { version, cluster, connect_urls: Array.from({ length: servers }, (_, i) => `10.0.0.${i}:4222`) } }) as unknown as NatsConnection;

describe('bucket replicas', () => {
  it('follows the cluster on a server that serialises compare-and-set', () => {
    for (const v of ['2.9.21', '2.9.25', '2.10.0', '2.11.3', '3.0.0']) expect(bucketReplicas(conn(v)), v).toBe(3);
    expect(bucketReplicasNote(conn('2.10.4'))).toBeUndefined();
    expect(bucketReplicas(conn('2.10.4', 5))).toBe(3);
  });

  it('keeps the buckets on one server on a cluster of an older server, and says why', () => {
    for (const v of ['2.9.10', '2.9.20', '2.8.4']) expect(bucketReplicas(conn(v)), v).toBe(1);
    expect(replicasOf(conn('2.9.10'))).toBe(3);
    expect(bucketReplicasNote(conn('2.9.10'))).toMatch(/nats-server 2\.9\.10 does not serialise compare-and-set .*nats-server#4320.*\(R1\)/);
  });

  it('one server: one replica, nothing to say', () => {
    expect(bucketReplicas(conn('2.9.10', 1, undefined))).toBe(1);
    expect(bucketReplicasNote(conn('2.9.10', 1, undefined))).toBeUndefined();
  });
});
