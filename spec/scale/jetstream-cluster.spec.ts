// Issue 14, proven under faults: HAProxy → 2 JetStream front ends → a 3-node NATS JetStream
// cluster with a 3-replica stream, all real processes on loopback. 50 clients from 127.0.0.2 and
// 127.0.0.3 send 2000 messages, retrying on 4xx, while one NATS node and one front end are
// SIGKILLed; then the front ends are restarted one by one with SIGTERM alone under load (each
// drains itself out of HAProxy by failing its health checks before it closes).
// SMTPWIRE_SCALE_DEBUG=1 prints the front ends' and HAProxy's logs after the rolling restart.

import { expect } from 'chai'
import { makeMessage } from '../../bench/messages.js'
import { dotStuff } from '../../bench/smtp-client.js'
import { requireTool } from '../helpers/external-tools.js'
import { HAPROXY_INSTALL, maildirFiles, NATS_INSTALL, readStream, removeScratch, scratch, type StoredRecord } from '../helpers/jetstream.js'
import { sendAll, type MessageOutcome } from '../helpers/retrying-clients.js'
import { SocketClient } from '../helpers/socket-client.js'
import { FrontEnd, HaProxy, NatsCluster, freePort, runConsumer, type Child } from '../../samples/scale/topology.js'

const MESSAGES = 2000
const CLIENTS = 50
const CLIENT_ADDRESSES = ['127.0.0.2', '127.0.0.3']
const MESSAGE_SIZE = 2048
// "Mid-run" is counted in acknowledged messages, not in time.
const KILL_NATS_AFTER = 500
const KILL_FRONT_END_AFTER = 1000
const ROLLING_START_AFTER = 150
const ROLLING_MINIMUM = 600
const TRACE = /^Return-Path: <bench@client\.test>\r\nReceived: from client\.test \(unknown \[([^\]]+)\]\)\r\n\tby mx\.test \(smtpwire\) with ESMTP id ([^\s;]+)\r\n\tfor <bench@server\.test>;\r\n\t[^\r]+ \+0000\r\n/

/** Checks every record against what the clients sent; returns the number of surplus records per id. */
function checkRecords(outcomes: readonly MessageOutcome[], records: readonly StoredRecord[]): { duplicates: number } {
  const byId = new Map<number, StoredRecord[]>()
  for (const record of records) {
    const match = TRACE.exec(record.data.toString('latin1', 0, 1024))
    if (!match) throw new Error(`record #${record.seq} does not start with the trace headers`)
    const [trace, client, transaction] = match
    expect(record.headers.get('Nats-Msg-Id'), `record #${record.seq}`).to.deep.equal([transaction])
    expect(record.headers.get('Smtp-Client-Address'), `record #${record.seq}`).to.deep.equal([client])
    expect(CLIENT_ADDRESSES, `record #${record.seq} names ${client}`).to.include(client)
    const message = record.data.subarray(trace.length)
    const id = Number(/^X-Bench-Id: (\d+)\r$/m.exec(message.toString('latin1', 0, 1024))?.[1] ?? -1)
    const outcome = outcomes[id]
    if (!outcome) throw new Error(`record #${record.seq} holds a message nobody sent`)
    expect(message.equals(outcome.body), `record #${record.seq} holds message ${id} with other bytes`).to.equal(true)
    // The Received header names the address this message's client connected from.
    expect(outcome.attempts.map((attempt) => attempt.localAddress)).to.include(client)
    byId.set(id, [...(byId.get(id) ?? []), record])
  }
  let duplicates = 0
  for (const outcome of outcomes) {
    const stored = byId.get(outcome.id)?.length ?? 0
    if (outcome.accepted) expect(stored, `message ${outcome.id} got 250 but is not in the stream`).to.be.at.least(1)
    duplicates += Math.max(0, stored - 1)
  }
  return { duplicates }
}

/** A session straight to a front end's port, as HAProxy relays one: PROXY v1 header, greeting, EHLO. */
async function directSession(port: number): Promise<SocketClient> {
  const session = await SocketClient.connect(port)
  session.socket.write('PROXY TCP4 127.0.0.3 127.0.0.1 40000 25\r\n')
  expect(await session.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
  expect(await session.command('EHLO client.test')).to.match(/^250-mx\.test/)
  return session
}

/** Every attempt that did not get a 250, grouped by its reply. */
function failures(outcomes: readonly MessageOutcome[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const outcome of outcomes) {
    for (const attempt of outcome.attempts) {
      if (attempt.code >= 200 && attempt.code < 300) continue
      const key = attempt.code === 0 ? `connection lost: ${attempt.reply}` : attempt.reply
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
  }
  return counts
}

describe('HAProxy → 2 JetStream front ends → 3-node JetStream cluster (issue 14)', function () {
  this.timeout(120_000)
  let dir = ''
  let cluster: NatsCluster | undefined
  let haproxy: HaProxy | undefined
  const frontEnds: FrontEnd[] = []
  let ports: number[] = []
  let healthPorts: number[] = []
  let flags: string[] = []
  // Each front end keeps its ports across restarts: HAProxy's config names them.
  const flagsOf = (index: number): string[] => [...flags, '--health-port', String(healthPorts[index] ?? 0), '--drain-checks', '3', '--drain-timeout', '60']

  before(async function (this: Mocha.Context) {
    requireTool(this, 'nats-server', NATS_INSTALL)
    requireTool(this, 'haproxy', HAPROXY_INSTALL)
    dir = await scratch('scale')
    cluster = await NatsCluster.start(dir, 3)
    flags = ['--nats', cluster.urls.join(','), '--replicas', '3', '--proxy-protocol', '--domain', 'mx.test', '--max-connections-per-address', '0', '--log-level', 'warn']
    ports = [await freePort(), await freePort()]
    healthPorts = [await freePort(), await freePort()]
    // One at a time: the first creates the stream and the bucket, the second finds them.
    for (const [index, port] of ports.entries()) frontEnds.push(await FrontEnd.start(`front end ${index + 1}`, port, flagsOf(index)))
    await cluster.streamCurrent('MAIL', 3)
    await cluster.streamCurrent('OBJ_MAIL_BODIES', 3)
    const [fe1, fe2] = frontEnds
    if (!fe1 || !fe2) throw new Error('the front ends did not start')
    // fall 2 (the template): each front end's --drain-checks 3 is fall + 1.
    haproxy = await HaProxy.start(dir, [fe1, fe2])
    await haproxy.waitForStatus('fe1', 'UP')
    await haproxy.waitForStatus('fe2', 'UP')
  })

  after(async () => {
    await haproxy?.stop()
    await Promise.all(frontEnds.map((frontEnd) => frontEnd.child.stop('SIGKILL')))
    await cluster?.stop()
    if (dir) await removeScratch(dir)
  })

  it('keeps every acknowledged message through a NATS node and a front end SIGKILLed mid-run', async () => {
    if (!cluster || !haproxy) throw new Error('not started')
    const proxy = haproxy
    const nats = cluster
    const started = Date.now()
    // The stream leader is the node whose death costs the most: in-flight publishes wait for a new one.
    const leader = await nats.streamLeader('MAIL')
    const faults: Array<Promise<unknown>> = []
    let frontEndDown: Promise<unknown> = Promise.resolve()
    const outcomes = await sendAll({
      port: proxy.port,
      clients: CLIENTS,
      localAddresses: CLIENT_ADDRESSES,
      next: (id) => (id < MESSAGES ? makeMessage(id, MESSAGE_SIZE) : null),
      onAccepted: (accepted) => {
        if (accepted === KILL_NATS_AFTER) faults.push(nats.kill(leader))
        if (accepted === KILL_FRONT_END_AFTER) {
          faults.push(frontEnds[0]?.child.stop('SIGKILL') ?? Promise.resolve())
          // The health check, not a client, must be what takes it out of rotation.
          frontEndDown = proxy.waitForStatus('fe1', 'DOWN')
          faults.push(frontEndDown)
        }
      },
    })
    await Promise.all(faults)
    const loadMs = Date.now() - started

    expect(outcomes.filter((outcome) => !outcome.accepted).map((outcome) => outcome.attempts.at(-1))).to.deep.equal([])
    const retried = failures(outcomes)
    const retries = [...retried.values()].reduce((sum, count) => sum + count, 0)
    // Only temporary failures: 451 (no ack), 421 and lost connections from the dead front end.
    for (const reply of retried.keys()) expect(reply).to.match(/^(451 4\.3\.0|421 |connection lost)/)

    const servers = await proxy.servers()
    expect(servers.get('fe1')?.status).to.match(/^DOWN/)
    expect(servers.get('fe1')?.checkStatus).to.match(/^L4/) // the check could not connect
    expect(servers.get('fe2')?.status).to.equal('UP')

    let mark = Date.now()
    const records = await readStream(nats.urls.filter((_, index) => index !== leader), 'MAIL')
    console.log(`      read ${records.length} records in ${Date.now() - mark} ms`)
    mark = Date.now()
    const { duplicates } = checkRecords(outcomes, records)
    expect(records.length).to.equal(MESSAGES + duplicates)
    expect(duplicates).to.be.at.most(retries)

    // The consumer runs with one node still dead: the stream's quorum serves it.
    const maildir = `${dir}/maildir`
    const consumer = await runConsumer(['--nats', nats.urls.filter((_, index) => index !== leader).join(','), '--maildir', maildir, '--no-fsync', '--log-level', 'warn'])
    if (process.env['SMTPWIRE_SCALE_DEBUG']) console.log(consumer.log)
    console.log(`      consumer delivered in ${Date.now() - mark} ms`)
    const files = (await maildirFiles(maildir)).map((file) => file.toString('base64')).sort()
    expect(files).to.deep.equal(records.map((record) => record.data.toString('base64')).sort())
    console.log(
      `      ${MESSAGES} messages from ${CLIENTS} clients in ${loadMs} ms with 1 NATS node and 1 front end killed; ` +
        `${retries} retries (${[...retried].map(([reply, count]) => `${count}× ${reply}`).join(', ')}), ${duplicates} duplicates`,
    )
  })

  it('restarts each front end with SIGTERM alone under load with no 4xx but the 421s of idle sessions', async () => {
    if (!cluster || !haproxy) throw new Error('not started')
    const proxy = haproxy
    const nats = cluster
    // Back to full strength: the killed node rejoins and catches up; the killed front end comes back.
    for (const [index, node] of nats.nodes.entries()) if (!node.child.running) await nats.restart(index)
    await nats.streamCurrent('MAIL', 3)
    for (const [index, frontEnd] of frontEnds.entries()) {
      if (!frontEnd.child.running) frontEnds[index] = await FrontEnd.start(`front end ${index + 1}`, ports[index] ?? 0, flagsOf(index))
      await proxy.waitForStatus(`fe${index + 1}`, 'UP')
    }
    const before = (await readStream(nats.urls, 'MAIL')).length
    const started = Date.now()
    let rolled = false
    const retired: Child[] = []
    const finishedInFlight: Buffer[] = []
    const timeline: string[] = []
    const mark = (event: string): void => void timeline.push(`${Date.now() - started} ms ${event}`)
    let rolling: Promise<void> = Promise.resolve()
    const roll = async (): Promise<void> => {
      // A failed step ends the load too (else the clients would go on forever) and fails the case.
      try {
        await rollEach()
      } finally {
        rolled = true
      }
    }
    const rollEach = async (): Promise<void> => {
      for (const [index, port] of ports.entries()) {
        const name = `fe${index + 1}`
        // SIGTERM alone, no operator step: the front end keeps serving while it refuses HAProxy's
        // health checks; after fall + 1 refusals HAProxy has taken it out and nothing is left in
        // its accept queue, so it closes: 421 to any idle session, messages finished, exit 0.
        // Two sessions of its own (as HAProxy would relay them): one idle after EHLO, one half-way
        // through a message's data, so the SIGTERM meets both kinds.
        const idle = await directSession(port)
        const busy = await directSession(port)
        const message = makeMessage(900_000 + index, MESSAGE_SIZE)
        await busy.command('MAIL FROM:<bench@client.test>')
        await busy.command('RCPT TO:<bench@server.test>')
        expect(await busy.command('DATA')).to.match(/^354 /)
        // The client's side of DATA: leading dots doubled (RFC 5321 §4.5.2); the record has them single.
        const stuffed = dotStuff(message)
        const half = stuffed.length >> 1
        busy.socket.write(stuffed.subarray(0, half))
        mark(`SIGTERM ${name}`)
        const old = frontEnds[index]
        if (old) retired.push(old.child)
        const exited = frontEnds[index]?.child.stop('SIGTERM')
        // The idle session's 421 shows the shutdown has begun; the message under way still finishes.
        expect(await idle.read()).to.deep.equal(['421 4.3.2 Service shutting down, closing connection'])
        busy.socket.write(Buffer.concat([stuffed.subarray(half), Buffer.from('.\r\n')]))
        expect(await busy.read()).to.deep.equal(['250 2.0.0 Message accepted'])
        await Promise.all([idle.ended(), busy.ended()])
        const { code } = (await exited) ?? { code: null }
        expect(code, `${name} exit code`).to.equal(0)
        finishedInFlight.push(message)
        mark(`${name} exited`)
        // It closed only after refusing fall + 1 checks: HAProxy had marked it DOWN by then.
        expect((await proxy.servers()).get(name)?.status, `${name} in HAProxy once it exited`).to.match(/^DOWN/)
        frontEnds[index] = await FrontEnd.start(`front end ${index + 1}`, port, flagsOf(index))
        mark(`${name} listening again`)
        // Back in once its checks pass again (rise 2), with nobody telling HAProxy.
        await proxy.waitForStatus(name, 'UP')
        mark(`${name} UP`)
      }
    }
    const outcomes = await sendAll({
      port: proxy.port,
      clients: CLIENTS,
      localAddresses: CLIENT_ADDRESSES,
      // Messages keep coming until both front ends were restarted, so each restart is under load.
      next: (id) => (id < ROLLING_MINIMUM || !rolled ? makeMessage(id + 100_000, MESSAGE_SIZE) : null),
      onAccepted: (accepted) => {
        if (accepted === ROLLING_START_AFTER) {
          rolling = roll()
          // Handled here so Node does not warn while the load winds down; `await rolling` still throws.
          rolling.catch(() => undefined)
        }
      },
    })
    await rolling
    const loadMs = Date.now() - started
    if (process.env['SMTPWIRE_SCALE_DEBUG']) for (const child of [...frontEnds.map((f) => f.child), proxy.child, ...retired]) console.log(child.name, child.log)

    expect(outcomes.filter((outcome) => !outcome.accepted).map((outcome) => outcome.attempts.at(-1))).to.deep.equal([])
    const retried = failures(outcomes)
    // Before EHLO a reply carries no enhanced code (RFC 2034 §4): both forms are the shutdown 421.
    const unexpected = outcomes.flatMap((outcome) => outcome.attempts).filter((attempt) => attempt.code !== 250 && !/^421 (4\.3\.2 )?Service shutting down/.test(attempt.reply))
    expect(unexpected.map((attempt) => `${attempt.endedAt - started} ms ${attempt.reply}`), timeline.join('; ')).to.deep.equal([])
    const records = await readStream(nats.urls, 'MAIL')
    expect(records.length - before).to.equal(outcomes.length + finishedInFlight.length)
    // The messages that were half-way through DATA at SIGTERM were acknowledged, so they are stored.
    for (const message of finishedInFlight) expect(records.some((record) => record.data.subarray(-message.length).equals(message))).to.equal(true)
    console.log(
      `      rolling restart of both front ends under load: ${outcomes.length} messages in ${loadMs} ms, ` +
        `${[...retried.values()].reduce((sum, count) => sum + count, 0)} × 421 to the load's sessions, no other failure; ` +
          `at each SIGTERM (no drain step) an idle session got 421 and a message half-way through DATA got 250; ${timeline.join(', ')}`,
    )
  })
})
