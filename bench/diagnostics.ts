// What the diagnostics channels cost: whole in-memory sessions (EHLO, MAIL, 2 RCPT, DATA with a
// small message, QUIT, pipelined in one read) per CPU second with nobody subscribed, and with a no-op
// subscriber on every channel. Prints figures; asserts nothing.
// Run: npm run build && node dist/bench/diagnostics.js [--sessions 20000] [--rounds 5]

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { parseArgs } from 'node:util'
import { CHANNELS, SmtpProtocol, type SmtpTransport } from '../lib/index.js'

const SESSION = Buffer.from(
  [
    'EHLO client.example.net',
    'MAIL FROM:<alice@example.net>',
    'RCPT TO:<bob@example.org>',
    'RCPT TO:<carol@example.org>',
    'DATA',
    'From: alice@example.net',
    'Subject: a small message',
    '',
    'Hello Bob and Carol.',
    '.',
    'QUIT',
    '',
  ].join('\r\n'),
)

const transport: SmtpTransport = { write: () => true, end: () => undefined }

/** Sessions per CPU second over `count` sessions (CPU time: on a shared machine, wall time mostly measures the neighbours). */
function run(count: number): number {
  const before = process.cpuUsage()
  for (let i = 0; i < count; i++) {
    const smtp = new SmtpProtocol({ domain: 'mx.example.org', commandTimeout: 0, dataTimeout: 0, sessionTimeout: 0 })
    smtp.on('recipient', () => true)
    smtp.on('message', () => true)
    smtp.open(transport, { remoteAddress: '192.0.2.10', remotePort: 40000 })
    smtp.feed(SESSION)
    if (!smtp.closed) throw new Error('the session did not end')
  }
  const used = process.cpuUsage(before)
  return count / ((used.user + used.system) / 1e6)
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

function main(): void {
  const { values } = parseArgs({ options: { sessions: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } })
  const sessions = Number(values.sessions)
  const rounds = Number(values.rounds)
  const noop = (): void => undefined
  run(Math.min(2000, sessions)) // warm up
  const bare: number[] = []
  const observed: number[] = []
  // Interleaved rounds, so a noisy neighbour slows both alike.
  for (let round = 0; round < rounds; round++) {
    bare.push(run(sessions))
    for (const name of Object.values(CHANNELS)) subscribe(name, noop)
    observed.push(run(sessions))
    for (const name of Object.values(CHANNELS)) unsubscribe(name, noop)
  }
  const a = median(bare)
  const b = median(observed)
  console.log(`sessions per CPU second, median of ${rounds} rounds of ${sessions} (each: 6 commands, 1 message, 2 recipients)`)
  console.log(`  no subscribers:               ${a.toFixed(0)}`)
  console.log(`  a no-op subscriber on each:   ${b.toFixed(0)} (${(((b - a) / a) * 100).toFixed(1)} %)`)
}

main()
