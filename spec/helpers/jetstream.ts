// JetStream for the specs: a single NATS server with JetStream on a free port, and readers for
// what the front end stored (stream records, object store bodies) and what the consumer wrote.

import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import { connect } from '@nats-io/transport-node'
import { Child, freePort, waitUntil } from '../../samples/scale/topology.js'

/** The Debian package line for the programs these specs run. */
export const NATS_INSTALL = 'apt-get install nats-server'
export const HAPROXY_INSTALL = 'apt-get install haproxy'

/** One stored record: its sequence, headers (name → values in order) and payload. */
export interface StoredRecord {
  readonly seq: number
  readonly headers: ReadonlyMap<string, readonly string[]>
  readonly data: Buffer
}

/** A scratch directory under the OS temp dir; removed by `removeScratch`. */
export function scratch(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `smtpwire-${prefix}-`))
}

export async function removeScratch(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** A single JetStream-enabled NATS server with a small max_payload, so big-message paths are cheap. */
export async function startNatsServer(dir: string, maxPayload: number): Promise<{ child: Child; url: string }> {
  const port = await freePort()
  const config = join(dir, 'nats.conf')
  await writeFile(config, `listen: "127.0.0.1:${port}"\nmax_payload: ${maxPayload}\njetstream { store_dir: "${join(dir, 'js')}" }\n`)
  const child = new Child('nats-server', spawn('nats-server', ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] }))
  await child.waitFor(/Server is ready/)
  return { child, url: `nats://127.0.0.1:${port}` }
}

/**
 * Every record in `stream`, oldest first. Read by sequence number (64 requests in flight), which
 * needs only the stream leader: creating a consumer to read with can time out while a node is dead.
 */
export async function readStream(servers: readonly string[], stream: string): Promise<StoredRecord[]> {
  const connection = await connect({ servers: [...servers] })
  try {
    // Retried: right after a node came back, asking for JetStream's account info can time out.
    const { manager, state } = await waitUntil(`stream ${stream}'s state`, async () => {
      const manager = await jetstreamManager(connection)
      return { manager, state: (await manager.streams.info(stream)).state }
    })
    const records: StoredRecord[] = []
    if (state.messages === 0) return records
    let next = state.first_seq
    const reader = async (): Promise<void> => {
      while (next <= state.last_seq) {
        const seq = next++
        const stored = await manager.streams.getMessage(stream, { seq })
        if (!stored) continue
        const headers = new Map<string, string[]>()
        for (const [name, values] of stored.header ?? []) headers.set(name, [...values])
        records.push({ seq, headers, data: Buffer.from(stored.data) })
      }
    }
    await Promise.all(Array.from({ length: 64 }, reader))
    return records.sort((a, b) => a.seq - b.seq)
  } finally {
    await connection.close()
  }
}

/** The bytes of object `name` in `bucket`, or null when there is none. */
export async function readObject(servers: readonly string[], bucket: string, name: string): Promise<Buffer | null> {
  const connection = await connect({ servers: [...servers] })
  try {
    const store = await new Objm(jetstream(connection)).open(bucket)
    const bytes = await store.getBlob(name)
    return bytes ? Buffer.from(bytes) : null
  } finally {
    await connection.close()
  }
}

/** The files in `<maildir>/new`, as Buffers. */
export async function maildirFiles(maildir: string): Promise<Buffer[]> {
  const names = await readdir(join(maildir, 'new'))
  return Promise.all(names.map((name) => readFile(join(maildir, 'new', name))))
}
