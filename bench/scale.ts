// Issue 14's figures (`npm run bench:scale`): messages/s and p50/p99 latency of the 250 through
// HAProxy with 1 and 2 JetStream front ends on a 3-node JetStream cluster, next to the Maildir
// sample on one process, and what JetStream's replicated ack costs per message. Not a test.
// `node dist/bench/scale.js [--sessions 50] [--messages 20] [--size 4096]`

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { FrontEnd, HaProxy, NatsCluster, freePort } from '../samples/scale/topology.js'
import { makeMessage } from './messages.js'
import { machine, spawnServer } from './proc.js'
import { percentile, runLoad } from './smtp-client.js'

const MAILDIR_SAMPLE = fileURLToPath(new URL('../samples/maildir-server.js', import.meta.url))

interface Row {
  readonly setup: string
  readonly messages: number
  readonly failed: number
  readonly perSecond: number
  readonly p50: number
  readonly p99: number
}

async function load(setup: string, port: number, sessions: number, messages: number, size: number): Promise<Row> {
  const result = await runLoad({ host: '127.0.0.1', port, sessions, messagesPerSession: messages, makeMessage: (id) => makeMessage(id, size) })
  const row = { setup, messages: result.messages, failed: result.failed, perSecond: result.messagesPerSecond, p50: result.p50Ms, p99: result.p99Ms }
  process.stderr.write(`  ${setup}: ${row.perSecond.toFixed(0)} msgs/s, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, ${row.failed} failed\n`)
  return row
}

/** Sequential publishes of `size` octets to a stream with `replicas`: the ack's round trip alone. */
async function publishLatency(urls: readonly string[], replicas: number, size: number, count: number): Promise<{ p50: number; p99: number }> {
  const connection = await connect({ servers: [...urls] })
  try {
    const stream = `ACK_R${replicas}`
    await (await jetstreamManager(connection)).streams.add({ name: stream, subjects: [`bench.r${replicas}`], num_replicas: replicas })
    const client = jetstream(connection)
    const payload = makeMessage(0, size)
    const took: number[] = []
    for (let index = 0; index < count; index++) {
      const started = performance.now()
      await client.publish(`bench.r${replicas}`, payload, { msgID: `bench-${replicas}-${index}` })
      took.push(performance.now() - started)
    }
    const sorted = Float64Array.from(took).sort()
    return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
  } finally {
    await connection.close()
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { sessions: { type: 'string', default: '50' }, messages: { type: 'string', default: '20' }, size: { type: 'string', default: '4096' } },
  })
  const sessions = Number(values.sessions)
  const messages = Number(values.messages)
  const size = Number(values.size)
  const dir = await mkdtemp(join(tmpdir(), 'smtpwire-bench-scale-'))
  const rows: Row[] = []
  let cluster: NatsCluster | null = null
  let proxy: HaProxy | null = null
  const frontEnds: FrontEnd[] = []
  try {
    process.stderr.write(`${sessions} sessions × ${messages} messages of ${size} octets per setup\n`)
    const maildir = await spawnServer(MAILDIR_SAMPLE, ['--port', '0', '--maildir', join(dir, 'maildir'), '--quiet', '--no-auth', '--no-starttls', '--max-connections-per-address', '0'], /smtpwire listening on [^\s]+:(\d+)/)
    rows.push(await load('Maildir sample, 1 process, fsync', maildir.port, sessions, messages, size))
    await maildir.stop()

    cluster = await NatsCluster.start(join(dir, 'nats'), 3)
    const flags = ['--nats', cluster.urls.join(','), '--replicas', '3', '--proxy-protocol', '--domain', 'mx.test', '--max-connections-per-address', '0', '--log-level', 'error']
    for (const name of ['fe1', 'fe2']) frontEnds.push(await FrontEnd.start(name, await freePort(), [...flags, '--health-port', '0']))
    await cluster.streamCurrent('MAIL', 3)
    const direct = await FrontEnd.start('direct', 0, ['--nats', cluster.urls.join(','), '--replicas', '3', '--domain', 'mx.test', '--max-connections-per-address', '0', '--log-level', 'error'])
    frontEnds.push(direct)
    rows.push(await load('JetStream front end, no HAProxy, R3', direct.port, sessions, messages, size))
    await direct.child.stop()

    const [fe1, fe2] = frontEnds
    if (!fe1 || !fe2) throw new Error('the front ends did not start')
    proxy = await HaProxy.start(dir, [fe1, fe2])
    await proxy.waitForStatus('fe1', 'UP')
    await proxy.command('set server smtpwire/fe2 state maint')
    await proxy.waitForStatus('fe2', 'MAINT')
    rows.push(await load('HAProxy → 1 front end → JetStream R3', proxy.port, sessions, messages, size))
    await proxy.command('set server smtpwire/fe2 state ready')
    await proxy.waitForStatus('fe2', 'UP')
    rows.push(await load('HAProxy → 2 front ends → JetStream R3', proxy.port, sessions, messages, size))

    const r1 = await publishLatency(cluster.urls, 1, size, 500)
    const r3 = await publishLatency(cluster.urls, 3, size, 500)

    process.stdout.write(`\nMachine: ${machine()}\n${sessions} concurrent sessions, ${messages} messages each, ${size} octets per message\n\n`)
    process.stdout.write('| setup | messages | failed | msgs/s | p50 250 (ms) | p99 250 (ms) |\n|---|---:|---:|---:|---:|---:|\n')
    for (const row of rows) {
      process.stdout.write(`| ${row.setup} | ${row.messages} | ${row.failed} | ${row.perSecond.toFixed(0)} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} |\n`)
    }
    process.stdout.write(
      `\nOne JetStream publish, sequential, ${size} octets: R1 ack p50 ${r1.p50.toFixed(2)} ms (p99 ${r1.p99.toFixed(2)}), ` +
        `R3 ack p50 ${r3.p50.toFixed(2)} ms (p99 ${r3.p99.toFixed(2)}): the replicated ack costs ${(r3.p50 - r1.p50).toFixed(2)} ms per message at p50.\n`,
    )
  } finally {
    await proxy?.stop()
    await Promise.all(frontEnds.map((frontEnd) => frontEnd.child.stop()))
    await cluster?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})
