// Issue 6's load script: many concurrent pipelining sessions against the Maildir sample (a child
// process) or an in-process SmtpServer, then an integrity check of what was stored. Not a test:
// `node dist/bench/load.js [--sessions 1000] [--messages 10] [--size 4096] [--target sample|inprocess]`.

import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { SmtpServer } from '../lib/index.js'
import { checkIntegrity, describeIntegrity, makeMessage, sha256, type IntegrityReport } from './messages.js'
import { machine, memoryStatus, mib, openFileLimit, sampleRss, spawnServer } from './proc.js'
import { runLoad, type LoadResult } from './smtp-client.js'

const SAMPLE = fileURLToPath(new URL('../samples/maildir-server.js', import.meta.url))
// Descriptors the process needs besides the sessions' sockets (stdio, pipes, files being read).
const SPARE_FDS = 128

/** What one load run measured. */
export interface LoadReport {
  readonly target: 'sample' | 'inprocess'
  readonly load: LoadResult
  /** Peak RSS of the process running the server, in octets. */
  readonly peakRss: number
  readonly integrity: IntegrityReport
}

/** The load's settings (the command line). */
export interface LoadSettings {
  readonly target: 'sample' | 'inprocess'
  readonly sessions: number
  readonly messages: number
  readonly size: number
  readonly bdat: boolean
  /** The sample flushes each message to disk before its 250; false passes --no-fsync. */
  readonly fsync: boolean
}

/** Reads every file of a folder, a few at a time. */
async function readAll(folder: string): Promise<Buffer[]> {
  const names = await readdir(folder)
  const files: Buffer[] = new Array<Buffer>(names.length)
  let next = 0
  const reader = async (): Promise<void> => {
    for (let index = next++; index < names.length; index = next++) {
      files[index] = await readFile(join(folder, names[index] ?? ''))
    }
  }
  await Promise.all(Array.from({ length: 32 }, reader))
  return files
}

/** Runs the load against the Maildir sample in a child process; reads its Maildir afterwards. */
/** What a target gives back: the load's results, the server's peak RSS, and what it stored. */
interface Run {
  readonly load: LoadResult
  readonly peakRss: number
  readonly stored: Buffer[]
}

async function againstSample(settings: LoadSettings, bodies: readonly Buffer[]): Promise<Run> {
  const maildir = await mkdtemp(join(tmpdir(), 'smtpwire-load-'))
  try {
    const flags = ['--port', '0', '--maildir', maildir, '--domain', 'bench.test', '--quiet']
    // The sample's defaults (1000 sessions, 20 per address) would refuse a load from one address.
    flags.push('--max-connections', '0', '--max-connections-per-address', '0')
    if (!settings.fsync) flags.push('--no-fsync')
    const child = await spawnServer(SAMPLE, flags, /smtpwire listening on \S+:(\d+)/)
    let load: LoadResult
    let peakRss: number
    try {
      load = await runLoad({ ...common(settings, bodies), port: child.port })
      peakRss = memoryStatus(child.pid).peak
    } finally {
      const code = await child.stop()
      if (code !== 0) process.stderr.write(`the sample exited with ${code}: ${child.stderr()}\n`)
    }
    const unfinished = await readdir(join(maildir, 'tmp'))
    if (unfinished.length > 0) process.stderr.write(`${unfinished.length} unfinished files left in tmp/\n`)
    return { load, peakRss, stored: await readAll(join(maildir, 'new')) }
  } finally {
    await rm(maildir, { recursive: true, force: true })
  }
}

/** Runs the load against an SmtpServer in this process that keeps each message in memory. */
async function inProcess(settings: LoadSettings, bodies: readonly Buffer[]): Promise<Run> {
  const stored: Buffer[] = []
  const server = new SmtpServer({ domain: 'bench.test' }, (smtp) => {
    smtp.on('message', ({ body }) => {
      if (body) stored.push(body)
    })
  })
  const { port } = await server.listen(0, '127.0.0.1')
  const sampler = sampleRss('self', 50)
  try {
    const load = await runLoad({ ...common(settings, bodies), port })
    return { load, peakRss: sampler.stop(), stored }
  } finally {
    sampler.stop()
    await server.close()
  }
}

function common(settings: LoadSettings, bodies: readonly Buffer[]): Parameters<typeof runLoad>[0] {
  return {
    host: '127.0.0.1',
    port: 0,
    sessions: settings.sessions,
    messagesPerSession: settings.messages,
    makeMessage: (index) => bodies[index] ?? Buffer.alloc(0),
    pipelining: true,
    bdat: settings.bdat,
  }
}

/** Runs the load and the integrity check. */
export async function runLoadTest(settings: LoadSettings): Promise<LoadReport> {
  // Every session holds a client socket, and in-process a server socket as well.
  const needed = settings.sessions * (settings.target === 'inprocess' ? 2 : 1) + SPARE_FDS
  const limit = openFileLimit()
  if (needed > limit) {
    const sessions = `${settings.sessions} sessions need about ${needed} open files`
    throw new Error(`${sessions}, but the limit is ${limit}: raise it (ulimit -n) or lower --sessions`)
  }
  // Built and hashed before the clock starts, so the load generator only sends.
  const total = settings.sessions * settings.messages
  const bodies = Array.from({ length: total }, (_, id) => makeMessage(id, settings.size))
  const hashes = bodies.map(sha256)
  const run = settings.target === 'sample' ? againstSample : inProcess
  const { load, peakRss, stored } = await run(settings, bodies)
  const sent = hashes.map((hash, id) => ({ sha256: hash, acknowledged: load.results[id]?.code === 250 }))
  return { target: settings.target, load, peakRss, integrity: checkIntegrity(sent, stored) }
}

/** The report, as printed. */
export function formatLoadReport(settings: LoadSettings, report: LoadReport): string {
  const { load, integrity } = report
  const codes = [...load.codes].map(([code, count]) => `${code === 0 ? 'no reply' : code}×${count}`).join(', ')
  const errors = [...load.errors].map(([error, count]) => `  ${count}× ${error}`)
  const where = report.target === 'sample' ? 'the sample process (VmHWM)' : 'this process, client included (sampled)'
  const sample = `Maildir sample in a child process${settings.fsync ? '' : ' (--no-fsync)'}`
  const target = report.target === 'sample' ? sample : 'in-process SmtpServer, messages kept in memory'
  const lines = [
    `machine: ${machine()}`,
    `target: ${target}`,
    `load: ${settings.sessions} concurrent sessions × ${settings.messages} messages of ${settings.size} octets, ` +
      `pipelining${settings.bdat ? ', BDAT' : ', DATA'}`,
    `messages: ${load.messages} sent, ${load.accepted} accepted, ${load.failed} failed (replies: ${codes})`,
    `sessions: all open (greeting, EHLO done) after ${(load.openMs / 1000).toFixed(2)} s; the clock starts then`,
    `throughput: ${load.messagesPerSecond.toFixed(0)} messages/s (${(load.durationMs / 1000).toFixed(2)} s)`,
    `latency: p50 ${load.p50Ms.toFixed(1)} ms, p99 ${load.p99Ms.toFixed(1)} ms`,
    `peak RSS: ${mib(report.peakRss)} MiB, ${where}`,
    `integrity: ${describeIntegrity(integrity)}`,
    ...integrity.problems.map((problem) => `  ${problem}`),
  ]
  if (errors.length > 0) lines.push('sessions that ended early:', ...errors.slice(0, 10))
  return `${lines.join('\n')}\n`
}

/** The command line: `--sessions --messages --size --target --bdat --no-fsync`. Exit code 1 on an integrity failure. */
export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sessions: { type: 'string', default: '1000' },
      messages: { type: 'string', default: '10' },
      size: { type: 'string', default: '4096' },
      target: { type: 'string', default: 'sample' },
      bdat: { type: 'boolean', default: false },
      'no-fsync': { type: 'boolean', default: false },
    },
    strict: true,
  })
  const target = values.target
  if (target !== 'sample' && target !== 'inprocess') throw new Error(`--target is sample or inprocess, got ${target}`)
  const count = (name: 'sessions' | 'messages' | 'size'): number => {
    const value = Number(values[name])
    if (Number.isSafeInteger(value) && value > 0) return value
    throw new Error(`--${name} must be a positive whole number, got ${values[name]}`)
  }
  const settings: LoadSettings = {
    target,
    sessions: count('sessions'),
    messages: count('messages'),
    size: count('size'),
    bdat: values.bdat,
    fsync: !values['no-fsync'],
  }
  const report = await runLoadTest(settings)
  process.stdout.write(formatLoadReport(settings, report))
  return report.integrity.ok ? 0 : 1
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
      process.exit(1)
    },
  )
}
