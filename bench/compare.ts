// Issue 7's benchmark (`npm run bench`): the same load against smtpwire, nodemailer's smtp-server
// and a raw canned-reply sink, each in its own child process, with the load generator in this one.
// Case 1: many small pipelined messages (messages/s). Case 2: one large message (bytes/s, RSS growth).

import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { makeMessage } from './messages.js'
import { cpuTimeMs, machine, memoryStatus, mib, resetPeak, sampleRss, spawnServer, type ServerChild } from './proc.js'
import { SERVER_KINDS, type ServerKind } from './server-child.js'
import { runLoad, runSession, type LoadResult } from './smtp-client.js'

const CHILD = fileURLToPath(new URL('./server-child.js', import.meta.url))
const NAMES: Record<ServerKind, string> = { smtpwire: 'smtpwire', 'smtp-server': 'smtp-server', raw: 'raw sink' }
// Case 2 warms each server up with a few messages this large: the JIT needs tens of MiB to settle.
const WARM_UP_SIZE = 32 * 1024 * 1024

/** What to run. */
export interface CompareSettings {
  /** Runs per measurement; the median is reported. */
  readonly repeat: number
  /** Case 1: messages in all, their size, and the sessions sending them at once. */
  readonly messages: number
  readonly size: number
  readonly sessions: number
  /** Case 2: the large message's size in octets. */
  readonly largeSize: number
  readonly cases: ReadonlySet<'small' | 'large'>
  readonly servers: readonly ServerKind[]
}

/** The median of the runs, and their smallest and largest value. */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

/** Case 1, one server: medians over the runs. */
export interface SmallResult {
  readonly server: ServerKind
  readonly messagesPerSecond: Spread
  readonly p50Ms: number
  readonly p99Ms: number
  /** CPU time the server process used per message, in microseconds (all its threads). */
  readonly serverCpuUs: number
  /** Messages without a 2xx in all runs. */
  readonly failures: number
}

/** Case 2, one server and one way of sending: medians over the runs. */
export interface LargeResult {
  readonly server: ServerKind
  readonly mode: 'DATA' | 'BDAT'
  /** Of the runs whose message was accepted. */
  readonly bytesPerSecond: Spread
  /** Peak RSS of the server process while it took the message, minus its RSS before, in octets. */
  readonly rssGrowth: number
  /** CPU time the server process used for the message, in ms (all its threads). */
  readonly serverCpuMs: number
  /** Replies of runs whose message did not get a 2xx. */
  readonly failures: readonly string[]
}

/** Everything one run of the benchmark measured. */
export interface CompareResult {
  readonly machine: string
  readonly settings: CompareSettings
  readonly small: readonly SmallResult[]
  readonly large: readonly LargeResult[]
}

/** The median of some numbers (NaN for none). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = sorted.length >> 1
  if (sorted.length % 2 === 1) return sorted[middle] ?? Number.NaN
  return ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) }
}

/** Runs `run` against a fresh server process of `kind` (`--expose-gc`, to collect before measuring). */
async function withServer<T>(kind: ServerKind, run: (child: ServerChild) => Promise<T>): Promise<T> {
  const child = await spawnServer(CHILD, [kind], /listening on (\d+)/, ['--expose-gc'])
  try {
    return await run(child)
  } finally {
    await child.stop()
  }
}

/** Case 1 against one server, once: a warm-up, then the timed load. */
function smallRun(kind: ServerKind, settings: CompareSettings, bodies: readonly Buffer[]) {
  return withServer(kind, async (child) => {
    const load = (perSession: number): Promise<LoadResult> =>
      runLoad({
        host: '127.0.0.1',
        port: child.port,
        sessions: settings.sessions,
        messagesPerSession: perSession,
        makeMessage: (index) => bodies[index % bodies.length] ?? Buffer.alloc(0),
      })
    // JIT warm-up, so every server is measured at speed.
    await load(50)
    await child.gc()
    const cpuBefore = cpuTimeMs(child.pid)
    const result = await load(Math.ceil(settings.messages / settings.sessions))
    return { ...result, serverCpuUs: ((cpuTimeMs(child.pid) - cpuBefore) * 1000) / result.messages }
  })
}

/** Case 2 against one server, once: the large message's throughput and the server's RSS growth. */
function largeRun(kind: ServerKind, bdat: boolean, message: Buffer, warmUp: Buffer) {
  return withServer(kind, async (child) => {
    const send = (body: Buffer) => runSession({ host: '127.0.0.1', port: child.port, messages: [body], bdat })
    for (let run = 0; run < 3; run++) await send(warmUp)
    await child.gc()
    // VmHWM from here on, if the kernel lets us reset it; the samples cover the case where it does not.
    const reset = resetPeak(child.pid)
    const before = memoryStatus(child.pid).rss
    const cpuBefore = cpuTimeMs(child.pid)
    const sampler = sampleRss(child.pid, 20)
    const { results } = await send(message)
    const sampled = sampler.stop()
    const serverCpuMs = cpuTimeMs(child.pid) - cpuBefore
    const peak = reset ? Math.max(memoryStatus(child.pid).peak, sampled) : sampled
    const result = results[0]
    return {
      ok: result?.ok ?? false,
      reply: result?.reply ?? 'no result',
      bytesPerSecond: result ? message.length / (result.latencyMs / 1000) : 0,
      rssGrowth: peak - before,
      serverCpuMs,
    }
  })
}

async function smallCase(settings: CompareSettings, progress: (line: string) => void): Promise<SmallResult[]> {
  const bodies = Array.from({ length: settings.messages }, (_, id) => makeMessage(id, settings.size))
  const results: SmallResult[] = []
  for (const kind of settings.servers) {
    const runs = []
    for (let run = 1; run <= settings.repeat; run++) {
      const result = await smallRun(kind, settings, bodies)
      const rate = result.messagesPerSecond.toFixed(0)
      progress(`case 1  ${NAMES[kind].padEnd(11)} run ${run}: ${rate} messages/s, ${result.failed} failed`)
      runs.push(result)
    }
    results.push({
      server: kind,
      messagesPerSecond: spread(runs.map((r) => r.messagesPerSecond)),
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      serverCpuUs: median(runs.map((r) => r.serverCpuUs)),
      failures: runs.reduce((sum, r) => sum + r.failed, 0),
    })
  }
  return results
}

async function largeCase(settings: CompareSettings, progress: (line: string) => void): Promise<LargeResult[]> {
  const message = makeMessage(0, settings.largeSize)
  const warmUp = makeMessage(1, Math.min(settings.largeSize, WARM_UP_SIZE))
  const results: LargeResult[] = []
  for (const kind of settings.servers) {
    // smtp-server does not implement CHUNKING.
    const modes: Array<'DATA' | 'BDAT'> = kind === 'smtp-server' ? ['DATA'] : ['DATA', 'BDAT']
    for (const mode of modes) {
      const runs = []
      for (let run = 1; run <= settings.repeat; run++) {
        const result = await largeRun(kind, mode === 'BDAT', message, warmUp)
        const shown = result.ok ? `${(result.bytesPerSecond / 1e6).toFixed(0)} MB/s` : `failed: ${result.reply}`
        progress(`case 2  ${NAMES[kind].padEnd(11)} ${mode} run ${run}: ${shown}, RSS +${mib(result.rssGrowth)} MiB`)
        runs.push(result)
      }
      results.push({
        server: kind,
        mode,
        bytesPerSecond: spread(runs.filter((r) => r.ok).map((r) => r.bytesPerSecond)),
        rssGrowth: median(runs.map((r) => r.rssGrowth)),
        serverCpuMs: median(runs.map((r) => r.serverCpuMs)),
        failures: runs.filter((r) => !r.ok).map((r) => r.reply),
      })
    }
  }
  return results
}

/** Runs the cases; `progress` gets a line per run. */
export async function runCompare(
  settings: CompareSettings,
  progress: (line: string) => void = () => undefined,
): Promise<CompareResult> {
  const small = settings.cases.has('small') ? await smallCase(settings, progress) : []
  const large = settings.cases.has('large') ? await largeCase(settings, progress) : []
  return { machine: machine(), settings, small, large }
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !Number.isFinite(a / b) ? 'n/a' : `${(a / b).toFixed(2)}×`
}

function range({ min, max }: Spread, scale = 1): string {
  return Number.isFinite(min) ? `${(min / scale).toFixed(0)}–${(max / scale).toFixed(0)}` : ''
}

/** Aligned columns: the first left, the rest right. */
function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)))
  const pad = (cell: string, column: number): string => {
    const width = widths[column] ?? 0
    return column === 0 ? cell.padEnd(width) : cell.padStart(width)
  }
  return [header, ...rows].map((cells) => cells.map(pad).join('  ').trimEnd())
}

function formatSmall(result: CompareResult): string[] {
  const { settings } = result
  const rows = result.small.map((r) => [
    NAMES[r.server],
    r.messagesPerSecond.median.toFixed(0),
    range(r.messagesPerSecond),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.serverCpuUs.toFixed(0),
    String(r.failures),
  ])
  const rate = (kind: ServerKind): number | undefined =>
    result.small.find((r) => r.server === kind)?.messagesPerSecond.median
  return [
    `case 1: ${settings.messages} messages of ${settings.size} octets, ${settings.sessions} pipelining sessions`,
    ...table(['server', 'messages/s', '(range)', 'p50 ms', 'p99 ms', 'server CPU µs/msg', 'failed'], rows),
    `ratios (messages/s): smtpwire/smtp-server ${ratio(rate('smtpwire'), rate('smtp-server'))}, ` +
      `smtpwire/raw ${ratio(rate('smtpwire'), rate('raw'))}`,
  ]
}

function formatLarge(result: CompareResult): string[] {
  const rows = result.large.map((r) => [
    NAMES[r.server],
    r.mode,
    Number.isNaN(r.bytesPerSecond.median) ? 'failed' : (r.bytesPerSecond.median / 1e6).toFixed(0),
    range(r.bytesPerSecond, 1e6),
    mib(r.rssGrowth),
    r.serverCpuMs.toFixed(0),
    r.failures.length > 0 ? `${r.failures.length} failed: ${r.failures[0]}` : '',
  ])
  const rate = (kind: ServerKind, mode: 'DATA' | 'BDAT'): number | undefined =>
    result.large.find((r) => r.server === kind && r.mode === mode)?.bytesPerSecond.median
  return [
    `case 2: one message of ${mib(result.settings.largeSize)} MiB`,
    ...table(['server', 'mode', 'MB/s', '(range)', 'peak RSS growth MiB', 'server CPU ms', ''], rows),
    `ratios (bytes/s): DATA smtpwire/smtp-server ${ratio(rate('smtpwire', 'DATA'), rate('smtp-server', 'DATA'))}, ` +
      `DATA smtpwire/raw ${ratio(rate('smtpwire', 'DATA'), rate('raw', 'DATA'))}, ` +
      `BDAT smtpwire/raw ${ratio(rate('smtpwire', 'BDAT'), rate('raw', 'BDAT'))}`,
  ]
}

/** The results as printed: machine, a table per case, and the ratios. */
export function formatCompare(result: CompareResult): string {
  const out = [
    `machine: ${result.machine}`,
    `median of ${result.settings.repeat} runs; each server in a fresh process, the load generator in this one`,
  ]
  if (result.small.length > 0) out.push('', ...formatSmall(result))
  if (result.large.length > 0) out.push('', ...formatLarge(result))
  return `${out.join('\n')}\n`
}

/**
 * The command line: `[--repeat 3] [--messages 10000] [--size 4096] [--sessions 20] [--large-mib 256]
 * [--case small|large]… [--server smtpwire|smtp-server|raw]…`. Exported so another script (the
 * core benchmark, say) can run it before or after its own cases; resolves with the exit code.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      repeat: { type: 'string', default: '3' },
      messages: { type: 'string', default: '10000' },
      size: { type: 'string', default: '4096' },
      sessions: { type: 'string', default: '20' },
      'large-mib': { type: 'string', default: '256' },
      case: { type: 'string', multiple: true },
      server: { type: 'string', multiple: true },
    },
    strict: true,
  })
  const count = (name: 'repeat' | 'messages' | 'size' | 'sessions' | 'large-mib'): number => {
    const value = Number(values[name])
    if (Number.isSafeInteger(value) && value > 0) return value
    throw new Error(`--${name} must be a positive whole number, got ${values[name]}`)
  }
  const cases = new Set<'small' | 'large'>()
  for (const name of values.case ?? ['small', 'large']) {
    if (name !== 'small' && name !== 'large') throw new Error(`--case is small or large, got ${name}`)
    cases.add(name)
  }
  const servers: ServerKind[] = []
  for (const name of values.server ?? SERVER_KINDS) {
    const kind = SERVER_KINDS.find((known) => known === name)
    if (!kind) throw new Error(`--server is one of ${SERVER_KINDS.join(', ')}, got ${name}`)
    servers.push(kind)
  }
  const settings: CompareSettings = {
    repeat: count('repeat'),
    messages: count('messages'),
    size: count('size'),
    sessions: count('sessions'),
    largeSize: count('large-mib') * 1024 * 1024,
    cases,
    servers,
  }
  const result = await runCompare(settings, (line) => process.stderr.write(`${line}\n`))
  process.stdout.write(formatCompare(result))
  const failed = result.small.some((r) => r.failures > 0) || result.large.some((r) => r.failures.length > 0)
  return failed ? 1 : 0
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
